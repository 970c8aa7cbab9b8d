"""The README's rendered examples are what the shipped templates produce, and its commands hold.

Run `python -m tests.cli.test_readme --write` to refresh the examples after changing a template.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from tests.support.helpers import World, at, meeting

README = Path(__file__).resolve().parents[2] / "README.md"
PATTERN = re.compile(r"(<!-- example: (\w+) -->\n)(.*?)(<!-- end example -->)", re.S)


def examples() -> dict[str, str]:
    world = World()
    event = world.add(
        meeting(
            "Globex: technical deep dive",
            at(1, 10),
            minutes=90,
            guests=["dana@globex.example", "raj@globex.example", "bo@acme.example"],
            description="Video call: https://meet.example/globex",
        )
    )
    world.cycle()
    return {
        "agenda": world.get(event).description,
        "prep": world.block_for("prep", event).description,
        "debrief": world.block_for("debrief", event).description,
    }


def rendered(text: str, found: dict[str, str]) -> str:
    return PATTERN.sub(
        lambda m: f"{m.group(1)}```text\n{found[m.group(2)]}\n```\n{m.group(4)}", text
    )


def test_readme_examples_match_the_templates() -> None:
    text = README.read_text()
    assert set(m.group(2) for m in PATTERN.finditer(text)) == {"agenda", "prep", "debrief"}
    assert rendered(text, examples()) == text, (
        "README examples are stale: run python -m tests.cli.test_readme --write"
    )


def test_ci_runs_the_readme_test_command() -> None:
    import subprocess

    command = subprocess.run(
        [
            "awk",
            "/<!-- test-command/ {found=1; next} found && /^```/ {if (open) exit; open=1; next} "
            "found && open {print; exit}",
            str(README),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert command.endswith("python -m pytest -q") and "pip install -e '.[test]'" in command
    assert "&& .venv/bin/mypy &&" in command  # the types, checked before the tests run
    assert "callplan demo" in README.read_text()


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    README.write_text(rendered(README.read_text(), examples()))


def test_the_configuration_example_is_valid() -> None:
    """The README's configuration reference parses as written, provider options included."""
    from agent.config.settings import parse
    from connectors.caldav import parse_options

    text = README.read_text()
    section = text[text.index("## Configuration") :]
    example = section[
        section.index("```toml\n") + len("```toml\n") : section.index(
            "```", section.index("```toml\n") + 7
        )
    ]
    config = parse(tomllib.loads(example), Path("config.toml"))
    (account,) = config.accounts
    assert (
        account.settings.timezone.key == "America/New_York"
        and account.settings.working_hours.start.hour == 9
    )
    assert config.service.interval_seconds == 60
    assert parse_options(account).url == "https://dav.example.com/"
