"""The README and the documents in docs/ say what the code does, and keep saying it.

The rendered examples in docs/artifacts.md, and the README's call plan with the invitation it
produces, are what the shipped templates produce; the README's commands and configuration hold;
every link and every repository path the documents name exists; the architecture's layers are
the ones import-linter enforces; every configuration example parses; and the code cites no
document the repository does not hold.

Run `python -m tests.cli.test_readme --write` to refresh the examples after changing a template.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from agent.cli.demo import PLAN, PLANNED
from agent.core.preview import form_part
from agent.text.form import fill_in
from tests.support.helpers import MONDAY, World, at, meeting

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
ARTIFACTS = DOCS / "artifacts.md"
REVIEW, REVIEW_PAGE = DOCS / "review.md", DOCS / "review-example.html"
ARCHITECTURE = DOCS / "architecture.md"
PATTERN = re.compile(r"(<!-- example: (\w+) -->\n)(.*?)(<!-- end example -->)", re.S)
# a path inside the repository, as the documents quote it: `agent/sync/engine.py`, `tests/faults/`
REPO_PATH = re.compile(r"`((?:agent|connectors|tests|templates|systemd|docs|\.ci)/[\w./-]*)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.S)


def documents() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


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


def plan_examples() -> dict[str, str]:
    """The README's "Writing your call plan": the plan the demo's seller writes into a prep,
    and the invitation it produces once it has settled, with the default send policy."""
    world = World(agenda={"send": "when_planned"})
    event = world.add(
        meeting(
            PLANNED,
            at(1, 10),
            minutes=90,
            guests=["dana@globex.example", "raj@globex.example"],
            description="Video call: https://meet.example/globex",
        )
    )
    world.cycle()
    prep = world.block_for("prep", event)
    form = form_part(prep.description)
    filled = fill_in(form, PLAN)
    world.calendar.person_edit(prep.ref, description=filled + prep.description[len(form) :])
    for minutes in (1, 31):
        world.now = MONDAY + timedelta(minutes=minutes)
        world.cycle()
    plan = filled[filled.index("YOUR CALL PLAN") :].rstrip()
    return {"plan": plan, "invitation": world.get(event).description}


def review_examples(folder: Path) -> dict[str, str]:
    """The review of a seeded history (tests/unit/test_report.py's, worked out by hand): the
    terminal's tables for docs/review.md, and the HTML page of docs/review-example.html."""
    from agent.cli.report_view import to_html, to_text
    from agent.config.settings import parse
    from agent.review.report import from_store
    from agent.state.sqlite import SqliteStore
    from tests.unit.test_report import CONFIG, NOW, PRACTICE_SEEDED

    store = SqliteStore(folder / "state.db")
    for held in PRACTICE_SEEDED:
        store.save_held(held)
    review = from_store(store, parse(CONFIG, folder / "config.toml").accounts, NOW, 28)
    store.close()
    tables = "\n".join(line.rstrip() for line in to_text(review).strip("\n").split("\n"))
    return {"review": tables, "page": to_html(review)}


def rendered(text: str, found: dict[str, str]) -> str:
    return PATTERN.sub(
        lambda m: f"{m.group(1)}```text\n{found[m.group(2)]}\n```\n{m.group(4)}", text
    )


def test_the_examples_match_the_templates() -> None:
    text = ARTIFACTS.read_text()
    assert set(m.group(2) for m in PATTERN.finditer(text)) == {"agenda", "prep", "debrief"}
    assert rendered(text, examples()) == text, (
        "docs/artifacts.md examples are stale: run python -m tests.cli.test_readme --write"
    )


def test_the_readmes_call_plan_and_its_invitation_are_what_callplan_makes() -> None:
    text = README.read_text()
    assert set(m.group(2) for m in PATTERN.finditer(text)) == {"plan", "invitation"}
    found = plan_examples()
    assert "pricing" not in found["invitation"] and "Raj may block" not in found["invitation"]
    assert rendered(text, found) == text, (
        "README.md examples are stale: run python -m tests.cli.test_readme --write"
    )


def test_the_reviews_example_is_what_callplan_report_shows(tmp_path: Path) -> None:
    text = REVIEW.read_text()
    assert set(m.group(2) for m in PATTERN.finditer(text)) == {"review"}
    found = review_examples(tmp_path)
    assert "Are we ready? Is the customer ready?" in found["page"]
    assert rendered(text, found) == text and REVIEW_PAGE.read_text() == found["page"], (
        "docs/review.md or its example page is stale: run python -m tests.cli.test_readme --write"
    )


def test_ci_runs_the_readme_test_command() -> None:
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
    assert "lint-imports" in command
    assert "&& .venv/bin/mypy &&" in command  # the types, checked before the tests run
    assert "callplan demo" in README.read_text()


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    ARTIFACTS.write_text(rendered(ARTIFACTS.read_text(), examples()))
    README.write_text(rendered(README.read_text(), plan_examples()))
    with tempfile.TemporaryDirectory() as folder:
        reviewed = review_examples(Path(folder))
    REVIEW.write_text(rendered(REVIEW.read_text(), reviewed))
    REVIEW_PAGE.write_text(reviewed["page"])


def test_the_configuration_example_is_valid() -> None:
    """The README's configuration reference parses as written, provider options included."""
    from agent.config.settings import parse
    from connectors.caldav import parse_options

    text = README.read_text()
    section = text[text.index("## Configuration") :]
    (example, *_) = TOML_BLOCK.findall(section)
    config = parse(tomllib.loads(example), Path("config.toml"))
    (account,) = config.accounts
    assert (
        account.settings.timezone.key == "America/New_York"
        and account.settings.working_hours.start.hour == 9
    )
    assert config.service.interval_seconds == 60
    assert parse_options(account).url == "https://dav.example.com/"


MINIMAL_ACCOUNT = """
[[accounts]]
name = "work"
provider = "caldav"
email = "alex@northpeak.example"
url = "https://dav.example.com/"
"""


@pytest.mark.parametrize("document", sorted(DOCS.glob("*.md")), ids=lambda path: path.name)
def test_every_configuration_example_in_the_docs_is_valid(document: Path) -> None:
    """Each ```toml block parses as a configuration (a block without an account gets one), and
    each account's provider options pass that provider's own checks."""
    from agent.config.settings import parse
    from connectors import caldav, google_auth, outlook_auth

    check = {
        "caldav": caldav.parse_options,
        "google": google_auth.parse_options,
        "outlook": outlook_auth.parse_options,
    }
    for block in TOML_BLOCK.findall(document.read_text()):
        raw = tomllib.loads(block if "[[accounts]]" in block else block + MINIMAL_ACCOUNT)
        for account in parse(raw, Path("config.toml")).accounts:
            check[account.provider](account)


def test_the_readme_links_every_document() -> None:
    linked = {
        (README.parent / target).resolve()
        for target in LINK.findall(README.read_text())
        if target.startswith("docs/")
    }
    assert linked == {path.resolve() for path in DOCS.glob("*.md")}


def slug(heading: str) -> str:
    """The anchor a Markdown heading gets: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("document", documents(), ids=lambda path: path.name)
def test_every_link_and_path_a_document_names_exists(document: Path) -> None:
    text = document.read_text()
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # https: and mailto: links go outside the repository
            continue
        file, _, anchor = target.partition("#")
        found = (document.parent / file).resolve() if file else document
        assert found.exists(), f"{document.name}: link to {target}: no such file"
        if anchor:
            headings = re.findall(r"^#+ (.*)$", found.read_text(), re.M)
            assert anchor in {slug(heading) for heading in headings}, (
                f"{document.name}: link to {target}: no such heading"
            )
    for path in REPO_PATH.findall(text):
        assert (ROOT / path).exists(), f"{document.name} names {path}, which does not exist"


def layer_rows() -> list[tuple[list[str], str]]:
    """The architecture's table of layers, top first: each row's packages and what they hold."""
    text = ARCHITECTURE.read_text()
    section = text[text.index("## The layers") : text.index("## One cycle")]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            rows.append((re.findall(r"`([\w/]+)/`", cells[1]), cells[2]))
    return rows


def test_the_architecture_names_the_layers_import_linter_enforces() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [
        contract["layers"]
        for contract in contracts["contracts"]
        if contract["type"] == "layers" and "containers" not in contract
    ]
    # "a | b": a layer of independent packages; "a : b": one whose packages may import each other
    enforced = [sorted(name.strip() for name in re.split(r"[|:]", layer)) for layer in layers]
    documented = [
        sorted(path.replace("/", ".") for path in packages) for packages, _ in layer_rows()
    ]
    assert documented == enforced
    packages = {init.parent.relative_to(ROOT) for init in (ROOT / "agent").glob("*/__init__.py")}
    assert {Path(path) for row, _ in layer_rows() for path in row} == packages | {
        Path("connectors")
    }


def test_every_module_the_architecture_names_in_a_layer_exists() -> None:
    for packages, holds in layer_rows():
        for name in re.findall(r"`([\w/]+(?:\.py|/))`", holds):
            places = [ROOT / package for package in packages] + [ROOT / "agent"]
            assert any((place / name).exists() for place in places), (
                f"docs/architecture.md: {name} is in none of {', '.join(packages)}"
            )


def test_the_code_cites_only_documents_of_the_repository() -> None:
    """Docstrings and comments point to the README and docs/, never to a document the
    repository does not hold (it would not be there for the reader)."""
    held = {
        path.relative_to(ROOT).as_posix()
        for path in ROOT.glob("**/*.md")
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    }
    names = {Path(path).name for path in held}
    for folder in ("agent", "connectors", "tests"):
        for code in (ROOT / folder).rglob("*.py"):
            for cited in re.findall(r"[\w./-]*[\w-]+\.md\b", code.read_text()):
                cited = cited.removeprefix("./")
                assert (cited in held) if "/" in cited else (cited in names), (
                    f"{code.relative_to(ROOT)} cites {cited}, which the repository does not hold"
                )
