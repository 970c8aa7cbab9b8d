"""Secrets named as the system service's credentials, read by callplan outside the service.

Inside the service systemd hands each credential over in $CREDENTIALS_DIRECTORY. An
administrator who runs `callplan config check` (or `auth`, or `sync --once`) on the same
configuration has no such directory, so a name like "secret_alex" must lead to the file the
installed unit loads it from, and errors must name that file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import secrets
from agent.config.secrets import read_secret, secret_path
from agent.config.unitfile import UNIT, credential_sources
from agent.core.errors import ConfigError
from agent.service.units import units_dir


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An installed system unit loading a directory (as ours does) and one single file:
    (the directory, the file)."""
    folder, token = tmp_path / "credentials", tmp_path / "token.json"
    folder.mkdir(mode=0o700)
    unit = tmp_path / UNIT
    unit.write_text(
        f"[Service]\nDynamicUser=yes\nLoadCredential=secret:{folder}\nLoadCredential = "
        f"token:{token}\n"
    )
    monkeypatch.setattr(secrets, "installed_system_unit", lambda: unit)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    return folder, token


def test_a_credential_name_is_the_file_the_installed_unit_loads_it_from(
    installed: tuple[Path, Path],
) -> None:
    folder, token = installed
    assert secret_path("secret_alex-caldav") == folder / "alex-caldav"
    token.write_text("{}")
    assert secret_path("token") == token
    assert secret_path("password") == Path("password")  # not a credential: as written
    assert secret_path("keys/secret_alex") == Path("keys/secret_alex")
    # absolute: as written
    assert secret_path(folder.parent / "secret_alex") == folder.parent / "secret_alex"


def test_inside_the_service_the_credentials_directory_wins(
    installed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "/run/credentials/callplan.service")
    assert secret_path("secret_alex") == Path("/run/credentials/callplan.service/secret_alex")


def test_errors_name_the_file_behind_the_credential(installed: tuple[Path, Path]) -> None:
    folder, _ = installed
    with pytest.raises(ConfigError, match=f"cannot read {folder}/alex: No such file"):
        read_secret("secret_alex", "accounts[0].password_file")
    (folder / "alex").write_text("s3cret\n")
    (folder / "alex").chmod(0o644)
    with pytest.raises(ConfigError, match=f"{folder}/alex is readable by others"):
        read_secret("secret_alex", "accounts[0].password_file")
    (folder / "alex").chmod(0o600)
    assert read_secret("secret_alex", "accounts[0].password_file") == "s3cret"


def test_a_source_this_user_cannot_even_look_at_leaves_the_name_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = tmp_path / UNIT
    # stat fails (name too long), as EACCES would
    unit.write_text(f"LoadCredential=token:{tmp_path / ('x' * 300)}\n")
    monkeypatch.setattr(secrets, "installed_system_unit", lambda: unit)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert secret_path("token") == Path("token")


def test_without_an_installed_unit_a_relative_name_stays_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(secrets, "installed_system_unit", lambda: tmp_path / "absent.service")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert secret_path("secret_alex") == Path("secret_alex")


def test_the_shipped_system_unit_loads_the_directory_the_readme_names() -> None:
    assert credential_sources(units_dir() / "system" / UNIT) == {
        "secret": Path("/etc/callplan/credentials")
    }
    assert credential_sources(units_dir() / "user" / UNIT) == {}
