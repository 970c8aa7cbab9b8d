"""The code base stays free of unused imports, undefined names and other pyflakes findings, is
laid out by the formatter, and every package of it ships."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--no-cache", "agent", "connectors", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_ruff_finds_nothing() -> None:
    result = ruff("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_laid_out_as_ruff_format_lays_it_out() -> None:
    result = ruff("format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_is_in_the_wheel() -> None:
    """pyproject.toml lists the packages (the templates and unit files are mapped in from the
    top of the tree, which discovery cannot do): a new sub-package must be listed too."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("agent", "connectors")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found <= listed, f"not in [tool.setuptools] packages: {sorted(found - listed)}"
