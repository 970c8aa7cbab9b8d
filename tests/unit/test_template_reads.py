"""Renderings remembered by what a template reads: the same texts as rendering every time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.sandbox import SandboxedEnvironment

from agent.core.callplan import PlanShared
from agent.text.reads import fields_read
from agent.text.render import MeetingContext, Preview, Renderer, agenda_items
from tests.support.helpers import BERLIN
from tests.unit.test_render import globex

START = datetime(2030, 3, 26, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("source", "read"),
    [
        (
            "{{ m.title }} {{ m.carry.objective }}{% for p in m.customers %}{% endfor %}",
            {"title", "carry", "customers"},
        ),
        ("{% if m.first_meeting %}{{ m.minutes }}{% endif %}", {"first_meeting", "minutes"}),
        ("no variables at all", set()),
        ("{{ m }}", None),  # the whole meeting
        ("{{ m['title'] }}", None),
        ("{{ m|attr('title') }}", None),
        ("{% for x in m %}{{ x }}{% endfor %}", None),
        ("{% set m = p %}{{ m.title }}", None),
        ("{% macro f(m) %}{{ m.title }}{% endmacro %}{{ f(p) }}", None),
        ("{{ agreed.part(m) }}", None),
        ('{% include "agreed.j2" %}{{ m.title }}', None),  # another template sees the context
        ('{% import "agreed.j2" as a %}{{ m.title }}', None),
    ],
)
def test_what_a_template_reads_of_a_variable(source: str, read: set[str] | None) -> None:
    assert fields_read(SandboxedEnvironment().parse(source), "m") == read


def test_the_built_in_agenda_is_rendered_once_for_meetings_it_says_the_same_of() -> None:
    """Two meetings that differ in title and time but not in what the agenda says share one
    rendering; the prep, which shows the title, is rendered for each."""
    renderer = Renderer()
    first, second = (
        globex(START, BERLIN),
        globex(START + timedelta(days=1), BERLIN)._replace(title="Globex pilot"),
    )
    assert renderer.agenda(first) is renderer.agenda(second)
    assert renderer.prep(first) != renderer.prep(second)
    follow_up = second._replace(first_meeting=False, agenda_items=agenda_items(60, follow_up=True))
    assert renderer.agenda(follow_up) != renderer.agenda(first)
    assert renderer.agenda(follow_up) == Renderer().agenda(follow_up)


def test_an_override_that_reads_the_time_alone_shows_each_sellers_zone(tmp_path: Path) -> None:
    """The same instant in two zones compares equal, but prints otherwise: what a rendering is
    remembered by holds the zone the meeting is shown in."""
    (tmp_path / "agenda.txt.j2").write_text("Starts {{ m.start|at }}")
    renderer = Renderer(tmp_path)
    shown = [
        renderer.agenda(globex(START, zone)) for zone in (BERLIN, ZoneInfo("America/New_York"))
    ]
    assert shown == ["Starts 10:00 on Tue 26 Mar", "Starts 05:00 on Tue 26 Mar"]


def test_an_override_that_sees_the_whole_meeting_is_rendered_for_each(tmp_path: Path) -> None:
    (tmp_path / "agenda.txt.j2").write_text(
        "{% for key in ['title', 'location'] %}{{ m|attr(key) }};{% endfor %}"
    )
    renderer = Renderer(tmp_path)
    ctx = globex(START, BERLIN)
    assert renderer.agenda(ctx) == "Globex;;"
    assert renderer.agenda(ctx._replace(title="Initech", location="HQ")) == "Initech;HQ;"


CONTEXTS = st.builds(
    lambda days, title, first, minutes, purpose, zone: globex(
        START + timedelta(days=days), ZoneInfo(zone)
    )._replace(
        title=title,
        first_meeting=first,
        agenda_items=agenda_items(minutes, follow_up=not first),
        plan=PlanShared(purpose) if purpose else None,
    ),
    st.integers(0, 3),
    st.sampled_from(["Globex", "Globex pilot"]),
    st.booleans(),
    st.sampled_from([30, 45, 60]),
    st.sampled_from(["", "Agree the pilot"]),
    st.sampled_from(["Europe/Berlin", "America/New_York"]),
)


@settings(max_examples=100, deadline=None)
@given(contexts=st.lists(CONTEXTS, min_size=1, max_size=12), draft=st.booleans())
def test_remembered_renderings_are_the_texts_a_fresh_renderer_renders(
    contexts: list[MeetingContext], draft: bool
) -> None:
    """One renderer renders a run of meetings (remembering what it may); each text is the one a
    renderer that has seen nothing renders."""
    warm = Renderer()
    for ctx in contexts:
        preview = Preview(("The agenda below is in the invitation.",), draft, agenda="Agenda")
        fresh = Renderer()
        for render in (
            Renderer.prep,
            Renderer.debrief,
            Renderer.agenda,
            Renderer.agenda_html,
        ):
            assert render(warm, ctx) == render(fresh, ctx)
        assert warm.preview(ctx, preview) == fresh.preview(ctx, preview)
