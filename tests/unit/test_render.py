"""Rendering: customer-supplied text is data, never template source; HTML is escaped."""

from __future__ import annotations

import sys
import threading
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import DictLoader, StrictUndefined, UndefinedError, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from agent.core.callplan import PlanShared, Topic
from agent.core.errors import ConfigError
from agent.core.model import Attendee, BodyFormat
from agent.text import splice
from agent.text.render import (
    MeetingContext,
    Person,
    Renderer,
    _Sandbox,
    _when,
    at_label,
    template_sources,
)
from tests.support.helpers import BERLIN, World, at, meeting

HOSTILE_TITLE = (
    "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %} {{ ''.__class__.__mro__ }} "
    "<script>alert(1)</script>"
)


def test_template_syntax_in_titles_names_and_descriptions_is_shown_literally() -> None:
    world = World()
    hostile = meeting(
        HOSTILE_TITLE, at(0, 10), guests=["dana@globex.example"], description="{% raw %}{{ x }}"
    )
    eve = Attendee("eve@globex.example", "{{ 6*6 }} <b>Eve</b>")
    hostile = world.add(hostile.with_changes(attendees=hostile.attendees + (eve,)))
    world.cycle()
    prep = world.block_for("prep", hostile)
    agenda = world.get(hostile).description
    for text in (prep.title, prep.description, agenda):
        assert (
            "49" not in text
            and "36" not in text
            and "loop\nloop" not in text
            and "<class" not in text
        )
    assert HOSTILE_TITLE in prep.description
    assert "{{ 6*6 }} <b>Eve</b> <eve@globex.example>" in prep.description
    assert agenda.startswith("{% raw %}{{ x }}\n\n" + splice.BEGIN)


def globex(start: datetime, zone: ZoneInfo) -> MeetingContext:
    """A first meeting with Globex of an hour from `start`, shown in `zone`."""
    return MeetingContext(
        title="Globex",
        start=start.astimezone(zone),
        end=(start + timedelta(hours=1)).astimezone(zone),
        timezone=str(zone),
        location="",
        customer="globex.example",
        customer_label="Globex",
        seller="alex@acme.example",
        seller_organizes=True,
        customers=(),
        colleagues=(),
        first_meeting=True,
    )


def test_html_agenda_escapes_what_the_seller_wrote() -> None:
    world = World()
    event = world.add(meeting("Globex", at(0, 10), description="<p>Hi</p>"))
    world.calendar.person_edit(event.ref, body_format=BodyFormat.HTML)
    world.cycle()
    assert world.get(event).description.startswith("<p>Hi</p>")
    hostile = '<img src=x onerror="alert(1)"> & co {{ 7*7 }}'
    ctx = globex(at(0, 10), BERLIN)._replace(
        plan=PlanShared(hostile, topics=(Topic(hostile, 5),), decide=(hostile,))
    )
    html = Renderer().agenda_html(ctx)
    assert "<img" not in html and "49" not in html
    assert html.count("&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; co {{ 7*7 }}") == 3


def test_templates_can_be_overridden_from_a_directory(tmp_path: Path) -> None:
    (tmp_path / "debrief.txt.j2").write_text("Custom debrief for {{ m.customer_label }}")
    world = World()
    world.renderer = Renderer(tmp_path)
    world.sync.renderer = world.renderer
    event = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    assert world.block_for("debrief", event).description == "Custom debrief for Globex"
    # the others stay default
    assert "Before you go in (private" in world.block_for("prep", event).description


@pytest.mark.parametrize(
    "reach",
    [
        "m.title.__class__.__mro__[1].__subclasses__()",
        "m.__class__.__init__.__globals__",  # from the planner's own data (read by a fast path)
        "m.customers[0]._replace(name=m.title)",
        "m.shared.__globals__",
        "m.start.__class__.__subclasses__()",
    ],
)
def test_an_override_cannot_reach_python_internals(tmp_path: Path, reach: str) -> None:
    """The sandbox refuses; the cycle stops with a one-line error and writes nothing."""
    (tmp_path / "prep.txt.j2").write_text(f"{{{{ {reach} }}}}")
    world = World()
    world.sync.renderer = Renderer(tmp_path)
    world.add(meeting("Globex", at(0, 10)))
    report = world.sync.cycle()
    assert report.error.startswith("template prep.txt.j2: cannot render: access to attribute")
    assert "unsafe" in report.error and "\n" not in report.error
    assert world.blocks() == []


def test_only_fields_of_the_planners_own_records_are_read_past_the_sandbox(
    tmp_path: Path,
) -> None:
    """Templates compile a read of a record's declared field to the read itself; the same name
    on any other object (a look-alike of the record included), and any other name on a
    record, still goes through the sandbox's getattr."""
    (tmp_path / "preview.txt.j2").write_text(
        "{{ m.title }}|{{ m.customer_label }}|{{ p.status }}|{{ m.count('Globex') }}"
    )
    renderer = Renderer(tmp_path)
    environment = renderer._env
    asked: list[str] = []

    def spy(obj: object, attribute: str) -> object:
        asked.append(attribute)
        return type(environment).getattr(environment, obj, attribute)

    environment.getattr = spy  # type: ignore[method-assign]
    ctx = globex(datetime(2030, 3, 18, 9, tzinfo=UTC), BERLIN)
    lookalike = types.SimpleNamespace(status="looks like a Preview")
    text = renderer.preview(ctx, lookalike)  # type: ignore[arg-type]
    assert text == "Globex|Globex|looks like a Preview|2"
    assert asked == ["status", "count"]


def test_a_broken_template_is_a_config_error_that_says_where(tmp_path: Path) -> None:
    (tmp_path / "agenda.txt.j2").write_text("{% if %}")
    with pytest.raises(ConfigError, match="templates: .*agenda.txt.j2|template error"):
        Renderer(tmp_path)


def test_the_sources_a_directory_overrides_render_as_the_directory_does(tmp_path: Path) -> None:
    """What a cluster stores of a templates directory renders exactly as the directory would."""
    (tmp_path / "prep.txt.j2").write_text("PREP for {{ m.title }}\n")
    (tmp_path / "notes.txt").write_text("not a template callplan knows")
    sources = template_sources(tmp_path)
    assert sources == {"prep.txt.j2": "PREP for {{ m.title }}\n"}
    preps = []
    for renderer in (Renderer(tmp_path), Renderer(sources)):
        world = World()
        world.sync.renderer = renderer
        ours = world.add(meeting("Globex", at(0, 10)))
        world.cycle()
        preps.append(world.block_for("prep", ours).description)
    # the prep is the template's text, then the preview region callplan keeps below it
    assert preps[0] == preps[1] and preps[0].startswith("PREP for Globex\n\n──── Preview")
    (tmp_path / "agenda.txt.j2").write_text("{% if %}")
    with pytest.raises(ConfigError, match="^templates \\(as applied to the cluster\\): template"):
        Renderer(template_sources(tmp_path))


def test_every_domain_point_is_in_the_templates() -> None:
    """docs/artifacts.md says what each artifact holds and why; check the key phrases are there."""
    world = World()
    ours = world.add(meeting("Globex", at(0, 10)))
    world.cycle()
    prep = world.block_for("prep", ours).description
    for phrase in [
        "agree to this meeting",
        "two or three focus areas",
        "what must we learn",
        "buying process",
        "15-20%",
        "top issues at their company",
        "might they be missing",
        "who else should attend",
        "aiming high enough",
        "derail",
    ]:
        assert phrase in prep, phrase
    agenda = world.get(ours).description
    for phrase in [
        "Purpose",
        "Outcomes we hope for",
        "Agenda",
        "Helpful to bring",
        "What we hope to decide",
        "just reply",
        "min)",
    ]:
        assert phrase in agenda, phrase
    for private in ["BEFORE YOU GO IN", "[ ]", "derail", "win rate"]:
        assert private not in agenda
    debrief = world.block_for("debrief", ours).description
    for phrase in [
        "What I liked",
        "differently next time",
        "Authority",
        "Commitment, customer",
        "Commitment, us",
        "Primary objective",
        "Time (",
        "Interest (",
        "Overview (",
        "Notes:",
        "Next steps agreed",
        "Next meeting scheduled?",
        "Opening statement ideas",
        "No next meeting with Globex",
    ]:
        assert phrase in debrief, phrase


def test_the_same_instant_is_shown_in_each_sellers_own_zone() -> None:
    """Two sellers in one process meet at the same instant: each text shows their own clock."""
    renderer = Renderer()
    start = datetime(2030, 3, 26, 9, tzinfo=UTC)
    shown = []
    for zone in (BERLIN, ZoneInfo("America/New_York")):
        shown.append(renderer.prep(globex(start, zone)).splitlines()[1])
    assert shown == ["Tue 26 Mar 2030, 10:00–11:00 (CET)", "Tue 26 Mar 2030, 05:00–06:00 (EDT)"]


@settings(max_examples=300, deadline=None)
@given(
    instant=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=0, max_value=24 * 60),
    zone=st.sampled_from(
        ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
    ),
)
def test_times_read_as_strftime_prints_them(instant: datetime, minutes: int, zone: str) -> None:
    """The hand-made formatting of `when` (and of `at`) prints exactly what strftime would, in
    any zone and year, and again for the same instants."""
    start = instant.astimezone(ZoneInfo(zone))
    end = start + timedelta(minutes=minutes)
    expected = f"{start.strftime('%a %d %b %Y, %H:%M')}{end.strftime('–%H:%M')} ({start.tzname()})"
    assert _when(start, end) == expected
    assert _when(start, end) == expected  # the same instants again, as a debrief's after a prep's
    assert _when(start) == f"{start.strftime('%a %d %b %Y, %H:%M')} ({start.tzname()})"
    assert at_label(start) == start.strftime("%H:%M on %a %d %b")


def test_threads_sharing_a_renderer_never_trip_over_its_memo() -> None:
    """The service's threads share one renderer: adding to a full memo in several of them at
    once must neither fail nor let it grow past its bound."""
    renderer = Renderer(memo_size=4)
    failures: list[BaseException] = []

    def remember(thread: int) -> None:
        try:
            for number in range(5_000):
                renderer.remember((thread, number), lambda: "text")
        except BaseException as exc:  # noqa: BLE001 - any failure is what the test looks for
            failures.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=remember, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == [] and len(renderer._memo) <= 4


def test_keys_of_the_same_hash_are_remembered_apart() -> None:
    """The memo keeps entries by the key's hash: a key sharing another's hash (as -1 and -2 do
    in CPython) gets its own result, never the other's."""
    renderer = Renderer()
    assert hash((-1,)) == hash((-2,))
    assert renderer.remember((-1,), lambda: "minus one") == "minus one"
    assert renderer.remember((-2,), lambda: "minus two") == "minus two"
    assert renderer.remember((-1,), lambda: "computed again") == "computed again"
    assert renderer.remember((-1,), lambda: "not computed") == "computed again"


# templates whose output holds every kind of piece a line can: data, constants folded at
# compile time, variables, filters, tests, conditionals, records' fields read past the sandbox,
# loops (reading their counters, or more of `loop`; with tests), macros and call blocks, blocks and
# extends, includes (with the context and without), escaping switched per block
_PIECES = {
    "layout.{kind}": (
        "<h1>{% block title %}{{ heading }} & co{% endblock %}</h1>\n"
        "{% block body %}{% endblock %}|{{ self.title() }}|{{ 1 + 2 }}{{ '<b>' }}"
    ),
    "page.{kind}": (
        '{% extends "layout.{kind}" %}'
        "{% block title %}{{ super() }}: {{ m.title }}{% endblock %}"
        "{% block body %}{{ m.customer_label }} {{ m.start|string }} {{ 4 * 2 }}{% endblock %}"
    ),
    "lines.{kind}": (
        '{% import "macros.{kind}" as k %}{% from "macros.{kind}" import wrap %}'
        "{{ heading }}<{{ m.title }}>{{ m.minutes }} {{ none }}{{ m.carry }}\n"
        "{% for p in m.customers %}{{ loop.index }}:{{ p.label }}{{ ',' if not loop.last }}"
        "{{ p.name|upper }}{% else %}nobody{% endfor %}\n"
        "{% for p in m.customers %}{{ loop.index0 }}{{ loop.index }}{{ '' if loop.first else ',' }}"
        "{{ p.email }}{% else %}{{ loop is defined }}{% endfor %}\n"
        "{% for n in range(2) %}{% for p in m.customers %}{{ loop.index }}{% endfor %}"
        "{{ loop.first }}{% endfor %}{% for n in [] %}{{ loop.first }}{% else %}-{% endfor %}\n"
        "{% for p in m.customers if p.name %}{{ p.name }};{% endfor %}"
        "{% for n in range(3) if n > 5 %}{{ n }}{% else %}none{% endfor %}"
        "{% for n in range(8) if n != number %}{% set number = n + 1 %}{{ n }}{% endfor %}\n"
        "{{ k.line(m.title) }}{% call wrap('[', ']') %}{{ heading }}{{ m.seller }}"
        "{% endcall %}\n"
        "{% set said %}{{ heading }}:{{ m.title }}{% endset %}{{ said }}{{ said|length }}\n"
        "{% filter upper %}{{ m.title }}-{{ heading }}{% endfilter %}\n"
        "{% autoescape false %}{{ heading }}{{ '<i>' }}{% endautoescape %}"
        "{% autoescape true %}{{ heading }}{{ '<i>' }}{% endautoescape %}\n"
        "{{ safe|safe }}{{ safe }}{{ number }}{{ number is odd }}{{ [1, heading] }}\n"
        "{{ heading ~ m.title ~ number ~ safe }}{{ 'a' ~ 1 }}{% set joined = m.title ~ heading %}"
        "{{ joined }}{{ (heading ~ number)|length }}{{ 'odd' if number is odd else heading }}\n"
        '{% include "plain.{kind}" without context %}{% include "included.{kind}" %}'
    ),
    "plain.{kind}": "plain {{ 1 + 1 }}\n",
    "macros.{kind}": (
        "{% macro line(text) %}({{ text }}|{{ text|length }}){% endmacro %}"
        "{% macro wrap(left, right) %}{{ left }}{{ caller() }}{{ right }}{% endmacro %}"
    ),
    "included.{kind}": (
        "{{ heading }}{{ m.title }} {% for n in range(3) %}{{ n }}{{ heading }}{% endfor %}"
    ),
}


@pytest.mark.parametrize("kind", ["txt.j2", "html.j2"])
def test_templates_print_what_jinja_prints(kind: str) -> None:
    """The renderer's sandbox compiles a template to one step of its generator (a block, a line
    to one step); whatever a line holds, text and HTML alike, it prints what Jinja's own sandbox
    prints."""
    sources = {
        name.format(kind=kind): source.replace("{kind}", kind) for name, source in _PIECES.items()
    }
    settings = {
        "loader": DictLoader(sources),
        "autoescape": select_autoescape(enabled_extensions=("html.j2",)),
        "undefined": StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
    }
    ours, jinjas = _Sandbox(**settings), SandboxedEnvironment(**settings)
    ctx = globex(datetime(2030, 3, 18, 9, tzinfo=UTC), BERLIN)._replace(
        customers=(
            Person("Ann <A>", "ann@globex.example", "Globex"),
            Person("", "b@g.example", "G"),
        )
    )
    given = {"m": ctx, "heading": "<Q&A>", "safe": Markup("<em>ok</em>"), "number": 7}
    for name in ("page", "lines", "included"):
        template = f"{name}.{kind}"
        expected = jinjas.get_template(template).render(given)
        assert ours.get_template(template).render(given) == expected
    # a field of a variable that is not given is an error that names it, as Jinja's is
    for line in ("{{ title }}{{ nothing.title }}", "{% for p in [1] %}{{ p.title }}{% endfor %}"):
        errors = []
        for sandbox in (ours, jinjas):
            with pytest.raises(UndefinedError) as raised:
                sandbox.from_string(line).render(given, title="t")
            errors.append(str(raised.value))
        assert errors[0] == errors[1]
    # a template is one step of the generator, where Jinja's takes one for each of its pieces
    lines = "a{{ number }}b{{ heading }}\n{% for n in range(2) %}{{ n }}\n{% endfor %}c"
    assert list(ours.from_string(lines).generate(given)) == [
        "".join(jinjas.from_string(lines).generate(given))
    ]
    # a block (which an extends may put elsewhere) is a generator of its own, a step for each
    # run of pieces between statements
    block = ours.from_string(
        "{% block b %}a{{ number }}b{% if number %}c{{ number }}{% endif %}{% endblock %}"
    )
    assert list(block.blocks["b"](block.new_context(given))) == ["a7b", "c7"]


def test_each_render_has_an_evaluation_context_of_its_own() -> None:
    """The sandbox's contexts build their evaluation context when first read: each its own,
    escaping as its template's name says, as Jinja's own contexts do."""
    sandbox = _Sandbox(autoescape=select_autoescape(enabled_extensions=("html.j2",)))
    html, text, again = (
        sandbox.context_class(sandbox, {}, name, {})
        for name in ("agenda.html.j2", "agenda.txt.j2", "agenda.txt.j2")
    )
    assert html.eval_ctx.autoescape and not text.eval_ctx.autoescape
    text.eval_ctx.autoescape = True
    assert text.eval_ctx.autoescape and not again.eval_ctx.autoescape
    assert again.eval_ctx is again.eval_ctx
