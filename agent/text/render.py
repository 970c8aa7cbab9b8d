"""Rendering the three artifacts from templates, safely.

Titles, names and descriptions come from outside (customers write them). They reach the
templates only as variables of a sandboxed Jinja2 environment, never as template source, so
``{{ ... }}`` in a meeting title is printed, not run; HTML templates escape them. Templates
ship with the package and a directory named in the config can override any of them (or, in a
cluster, the overriding sources that `callplan accounts apply` read from that directory).
"""

from __future__ import annotations

import functools
import hashlib
import operator
import threading
import typing as t
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from types import CodeType
from typing import NamedTuple

from jinja2 import (
    BaseLoader,
    BytecodeCache,
    ChoiceLoader,
    DictLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    nodes,
    select_autoescape,
)
from jinja2.bccache import Bucket
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

from agent.core.callplan import PlanShared, Topic
from agent.core.errors import ConfigError
from agent.core.history import Agreed, Carryover, Commitment
from agent.text.reads import Reader, fields_read, reader
from agent.text.splice import neutralise

TEMPLATES = ("prep.txt.j2", "preview.txt.j2", "agenda.txt.j2", "agenda.html.j2", "debrief.txt.j2")
# how an agenda words what a debrief agreed: `agreed.commitment(c)`, `agreed.part(a)`
MACROS = "agreed.j2"
RENDERINGS = 256  # the latest renderings of each template that are remembered
SOURCES = 64  # the template sources a process keeps compiled (and what they read)


def default_templates_dir() -> Path:
    """Templates ship inside the package as agent/templates; a source checkout keeps them at the
    top."""
    installed = Path(__file__).parents[1] / "templates"
    return installed if installed.is_dir() else Path(__file__).parents[2] / "templates"


def template_sources(directory: Path) -> dict[str, str]:
    """The templates a directory overrides, by name, as text: what a cluster stores so that every
    worker renders with the same ones, wherever it runs."""
    if not directory.is_dir():
        raise ConfigError("not a directory", where=f"templates: {directory}")
    sources = {}
    for name in (*TEMPLATES, MACROS):
        path = directory / name
        try:
            if path.is_file():
                sources[name] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"cannot read: {reason}", where=f"templates: {path}") from None
    return sources


class Person(NamedTuple):
    """An attendee as templates show them (a named tuple, like MeetingContext: see there)."""

    name: str
    email: str
    company: str
    organizer: bool = False
    optional: bool = False
    response: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class AgendaItem(NamedTuple):
    """One timed topic of an agenda (a named tuple, like MeetingContext: see there)."""

    topic: str
    minutes: int


class MeetingContext(NamedTuple):
    """Everything a template may show about one meeting, already in the seller's time zone.

    A named tuple, not a dataclass: a plan builds one per meeting and the renderer's memo
    compares it with the last cycle's, thousands of times a cycle, which tuples do in C.
    """

    title: str
    start: datetime
    end: datetime
    timezone: str
    location: str
    customer: str  # the customer's identity: a configured name, a domain, or a personal address
    customer_label: str  # how to call them in text: "Globex" for globex.com
    seller: str
    seller_organizes: bool
    customers: tuple[Person, ...]  # attendees from outside
    colleagues: tuple[Person, ...]  # attendees from the seller's side
    first_meeting: bool
    previous_meeting: str = ""  # date of the last meeting with this customer, if any
    next_meeting: str = ""  # date of the next scheduled meeting with this customer, if any
    agenda_items: tuple[AgendaItem, ...] = ()
    carry: Carryover | None = None
    plan: PlanShared | None = None  # what has settled of the call plan's shared sections
    agenda_on: bool = True  # agendas are enabled: the prep's plan may become one

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    def shared(self) -> MeetingContext:
        """What a customer-visible agenda may be rendered from: the settled shared sections of
        the call plan, the shared part of the carry-over, and nothing else private."""
        if self.carry is None:
            return self  # nothing private to leave out
        return self._replace(carry=self.carry.shared())


class Preview(NamedTuple):
    """What the preview at the end of a prep says besides the meeting's carry-over (a named
    tuple, like MeetingContext: see there)."""

    status: tuple[str, ...]  # what happens to the agenda, and when
    draft: bool  # the agenda is for the seller to send themselves
    plan_changes_at: datetime | None = None  # when a change of the plan reaches the agenda
    plan_withheld: tuple[str, ...] = ()  # lines of the plan kept out of the agenda
    agenda: str = ""  # the agenda as the customer will see it (or the draft)


# What templates may read without the sandbox's general attribute check: the declared fields
# (and plain computed properties) of the frozen data the planner hands them, and the
# counters of a for loop. Nothing else.
_READABLE: dict[type, frozenset[str]] = {
    cls: frozenset(field.name for field in fields(cls)) | extra
    for cls, extra in (
        (Commitment, set()),
        (Agreed, set()),
        (Carryover, set()),
        (PlanShared, set()),
        (Topic, set()),
    )
} | {
    Person: frozenset(Person._fields) | {"label"},
    Preview: frozenset(Preview._fields),
    AgendaItem: frozenset(AgendaItem._fields),
    MeetingContext: frozenset(MeetingContext._fields) | {"minutes"},
    # a for loop's counters ("loop.first"), which templates read on every pass
    LoopContext: frozenset(
        {"depth", "first", "index", "index0", "last", "length", "revindex", "revindex0"}
    ),
}


# The types each readable name is a field of, what compiled templates check before reading
# it: the one type where it is one type's (an identity check), else the set of them.
_FIELDS = sorted(frozenset().union(*_READABLE.values()))
_OWNERS: tuple[type | frozenset[type], ...] = tuple(
    owners if len(owners) > 1 else next(iter(owners))
    for owners in (
        frozenset(kind for kind, names in _READABLE.items() if name in names) for name in _FIELDS
    )
)
_OWNER_OF = {name: number for number, name in enumerate(_FIELDS)}


def _internal(name: str) -> nodes.InternalName:
    """A name of the compiled code, which no template can name (as a parser makes them)."""
    internal = object.__new__(nodes.InternalName)
    nodes.Node.__init__(internal, name)
    return internal


# what goes through a counted loop's items with each one's count (an internal name the parser
# never makes: its own are numbered)
_ENUMERATE = "enumerate"
# a loop's counters, of its count
_COUNTERS: dict[str, Callable[[nodes.Expr], nodes.Expr]] = {
    "index0": lambda count: count,
    "index": lambda count: nodes.Add(count, nodes.Const(1)),
    "first": lambda count: nodes.Compare(count, [nodes.Operand("eq", nodes.Const(0))]),
}
# what a counted loop's body may not hold: anything with a `loop` or a scope of its own
_UNCOUNTABLE = (nodes.For, nodes.Macro, nodes.CallBlock, nodes.Block)


def _counts_only(loop: nodes.For) -> bool:
    """Whether a loop's body reads `loop`, and only its counters, and holds nothing that may
    have a `loop` or a scope of its own."""
    inside = [found for child in loop.body for found in (child, *child.find_all(nodes.Node))]
    names = [found for found in inside if isinstance(found, nodes.Name) and found.name == "loop"]
    reads = [
        found
        for found in inside
        if isinstance(found, nodes.Getattr)
        and isinstance(found.node, nodes.Name)
        and found.node.name == "loop"
        and found.attr in _COUNTERS
    ]
    uncountable = any(isinstance(found, _UNCOUNTABLE) for found in inside)
    return bool(names) and len(reads) == len(names) and not uncountable


def _tests_inline(loop: nodes.For) -> bool:
    """Whether a loop's test can be asked in its body: it has one, neither the loop nor its test
    reads `loop` (which counts only the items that pass), there is no `else` (which runs when no
    item passes), and the body only prints and branches, as the shipped templates' do (for any
    other body, Jinja's own filter is kept)."""
    inside = [found for child in loop.body for found in (child, *child.find_all(nodes.Node))]
    return (
        loop.test is not None
        and not (loop.recursive or loop.else_)
        and not any(name.name == "loop" for name in loop.find_all(nodes.Name))
        and not any(
            isinstance(found, nodes.Stmt) and not isinstance(found, (nodes.Output, nodes.If))
            for found in inside
        )
    )


class _Counters(NodeTransformer):
    """A loop's body with each read of a counter a read of its count."""

    def __init__(self, count: str) -> None:
        self.count = count

    def visit_Getattr(self, node: nodes.Getattr) -> nodes.Node:
        if isinstance(node.node, nodes.Name) and node.node.name == "loop":
            return _COUNTERS[node.attr](_internal(self.count))
        return self.generic_visit(node)


class _Compiler(CodeGenerator):
    """Templates compiled to read the planner's own data directly.

    A field of one of those frozen records is plain data (text, numbers, dates, more of the
    same), so reading it is safe without the sandbox's general check, which looks for internal
    attributes and unsafe callables on every access; even a call to a method that skips it
    costs a Python call per read, and templates read fields on nearly every line. So a read of
    a name that is such a field compiles to a check of the object's exact type and the read
    itself; any other object, and every other name (methods, dunders), still goes through the
    sandbox's getattr. The types are taken from the environment once a render, into a local
    of the template's functions (macros and loops reach it as they reach its other helpers):
    reading them off the environment at every read cost more than the check itself.
    """

    def write_commons(self) -> None:
        super().write_commons()
        self.writeline("record_types = environment.record_types")

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        # Whether the template's own output can go into one buffer, joined and yielded once at
        # its end: each yield is a step of the template's generator, which costs more than
        # adding to a list. Not where an extends may discard what the template prints, nor
        # where an include without context is yielded from as it is, out of the buffer's order.
        self._buffered = not self.environment.is_async and not any(
            isinstance(found, nodes.Extends)
            or (isinstance(found, nodes.Include) and not found.with_context)
            for found in node.find_all((nodes.Extends, nodes.Include))
        )
        super().visit_Template(node, frame)

    def enter_frame(self, frame: Frame) -> None:
        super().enter_frame(frame)
        if frame.rootlevel and self._buffered:
            self.buffer(frame)

    def leave_frame(self, frame: Frame, with_python_scope: bool = False) -> None:
        super().leave_frame(frame, with_python_scope)
        if frame.rootlevel and self._buffered:
            self.writeline(f"yield concat({frame.buffer})")

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        """A loop whose body reads only counters of `loop` (`loop.first`) goes through its
        items counted, in C, and reads the count: for any `loop`, Jinja builds a LoopContext,
        and takes each item, and each counter, by a call of Python."""
        if _tests_inline(node) and not self.environment.is_async:
            # a loop's test, where the body cannot tell, is an `if` around its body: Jinja
            # defines a generator that filters the items for it, at every render
            body = [nodes.If(node.test, node.body, [], [])]
            loop = nodes.For(node.target, node.iter, body, [], None, False)
            loop.set_lineno(node.lineno)
            super().visit_For(loop, frame)
            return
        # (a loop with a test counts only the items that pass it: counting is left to Jinja)
        if node.recursive or node.test or self.environment.is_async or not _counts_only(node):
            super().visit_For(node, frame)
            return
        count = self.temporary_identifier()
        body = [_Counters(count).visit(child) for child in node.body]
        target = nodes.Tuple([_internal(count), node.target], "store")
        counted = nodes.Call(_internal(_ENUMERATE), [node.iter], [], None, None)
        loop = nodes.For(target, counted, body, node.else_, None, False)
        loop.set_lineno(node.lineno)
        super().visit_For(loop, frame)

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        # a counted loop's items, which the compiled code counts, not a template's call
        if isinstance(node.node, nodes.InternalName) and node.node.name == _ENUMERATE:
            self.write(f"{_ENUMERATE}(")
            self.visit(node.args[0], frame)
            self.write(")")
            return
        super().visit_Call(node, frame, forward_caller=forward_caller)

    @optimizeconst
    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        number = _OWNER_OF.get(node.attr)
        if number is None or self.environment.is_async:
            super().visit_Getattr(node, frame)
            return
        check = f"{'is' if isinstance(_OWNERS[number], type) else 'in'} record_types[{number}]"
        read = node.node
        if isinstance(read, nodes.Name) and read.ctx == "load":
            # a variable's local is checked as it is: one that is not set (Jinja's `missing`) is
            # not a record either, and only on that way is it made an undefined value, as Jinja
            # makes it at every read of a name
            local = frame.symbols.ref(read.name)
            self.write(f"(_record.{node.attr} if type(_record := {local}) {check} else ")
            self.write("environment.getattr(")
            self.visit(read, frame)
            self.write(f", {node.attr!r}))")
            return
        # the object is evaluated once, into a local: the check's operand comes first
        self.write(f"(_record.{node.attr} if type(_record := ")
        self.visit(read, frame)
        self.write(f") {check} else environment.getattr(_record, {node.attr!r}))")

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        """A piece of output yields its children joined, once, where Jinja yields each child
        (or run of constant children) in turn: every yield is a step of the generator. This is
        for what is not buffered (see visit_Template): a block's output, and a template's that
        is yielded in turns with an include's. Buffered output, and a template's output that an
        extends may discard, are left as Jinja writes them."""
        if frame.buffer is not None or frame.require_output_check:
            super().visit_Output(node, frame)
            return
        finalize = self._make_finalize()
        # runs of constant children folded as Jinja folds them (escaped where the template
        # escapes), the others evaluated through the same conversion Jinja wraps them in
        pieces: list[list[str] | nodes.Expr] = []
        for child in node.nodes:
            try:
                if not (finalize.const or isinstance(child, nodes.TemplateData)):
                    raise nodes.Impossible()
                const = self._output_child_to_const(child, frame, finalize)
            except (nodes.Impossible, Exception):
                pieces.append(child)
                continue
            if pieces and isinstance(pieces[-1], list):
                pieces[-1].append(const)
            else:
                pieces.append([const])
        if len(pieces) < 2:  # one piece: Jinja yields it as it is
            super().visit_Output(node, frame)
            return
        self.writeline("yield concat((")
        self.indent()
        for piece in pieces:
            if isinstance(piece, list):
                self.writeline(self._output_const_repr(piece))
            else:
                self.newline(piece)
                self._output_child_pre(piece, frame, finalize)
                self.visit(piece, frame)
                self._output_child_post(piece, frame, finalize)
            self.write(",")
        self.outdent()
        self.writeline("))")

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: t.Any) -> None:
        # a piece that is text already is printed as it is where Jinja would only call str on
        # it (no escaping, no finalize): its conditionals' branches are mostly such pieces
        if not self._plain_text(node, frame, finalize):
            super()._output_child_pre(node, frame, finalize)
        else:
            self.write("(")

    def _plain_text(self, node: nodes.Expr, frame: Frame, finalize: t.Any) -> bool:
        """Whether a piece of output is text whatever it evaluates to, in a template that
        prints text as it is: a text constant, a concatenation (which is text), or a
        conditional whose branches both are."""
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape or finalize.src is not None:
            return False
        if isinstance(node, nodes.Const):
            return type(node.value) is str
        if isinstance(node, nodes.Concat):
            return True
        if isinstance(node, nodes.CondExpr):  # without an else, it prints an undefined value
            return node.expr2 is not None and all(
                self._plain_text(branch, frame, finalize) for branch in (node.expr1, node.expr2)
            )
        return False

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        """`a ~ b` in a template that does not escape joins its operands' text in place, where
        Jinja calls a helper of its runtime that maps them through str: a Python call and an
        iterator for each concatenation, which the shipped texts make on most lines they
        print. Where escaping may apply, Jinja's own helpers decide it."""
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape or self.environment.is_async:
            super().visit_Concat(node, frame)
            return
        self.write("concat((")
        for operand in node.nodes:
            if isinstance(operand, nodes.Const) and type(operand.value) is str:
                self.visit(operand, frame)  # text already
            else:
                self.write("str(")
                self.visit(operand, frame)
                self.write(")")
            self.write(", ")
        self.write("))")


class _Context(Context):
    """A render's context, as Jinja's holds it, at less cost to build: every render builds
    one, and most never look at its evaluation context (what escaping and a few filters
    consult), which Jinja builds for each. Here it is built when first read, the first time
    a render asks for it, so each render still has its own to change (``{% autoescape %}``
    does); and a template without blocks, as most are, is given an empty dict of them
    without going through a comprehension."""

    def __init__(
        self,
        environment: Environment,
        parent: dict[str, t.Any],
        name: str | None,
        blocks: dict[str, Callable[[Context], t.Iterator[str]]],
        globals: t.MutableMapping[str, t.Any] | None = None,
    ) -> None:
        self.parent = parent
        self.vars = {}
        self.environment = environment
        self.exported_vars = set()
        self.name = name
        self.globals_keys = set() if globals is None else set(globals)
        self.blocks = {name: [block] for name, block in blocks.items()} if blocks else {}

    @functools.cached_property
    def eval_ctx(self) -> EvalContext:  # type: ignore[override]
        return EvalContext(self.environment, self.name)


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with templates compiled to read the planner's records directly (see
    _Compiler), and contexts built as renders need them (see _Context)."""

    code_generator_class = _Compiler
    context_class = _Context
    record_types = _OWNERS


# The variables each template is given: the meeting (m), and to the preview the Preview (p).
_GIVEN: dict[str, dict[str, type]] = {
    **{name: {"m": MeetingContext} for name in TEMPLATES},
    "preview.txt.j2": {"m": MeetingContext, "p": Preview},
}
# What a rendering is remembered by always holds the meeting's time zone: every time a
# template is given is in it, and times compare equal across zones, which print differently.
_ALWAYS = {"m": ("timezone",)}
# What tells one meeting from another: a template that reads any of it (or the whole meeting)
# renders a text of its own for nearly every meeting, and is not worth remembering.
_PER_MEETING = frozenset({"title", "start", "end"})


_KEEPING = threading.Lock()
K = t.TypeVar("K")
V = t.TypeVar("V")


def _keep(entries: dict[K, V], key: K, value: V, limit: int) -> V:
    """Add an entry to a bounded memo, dropping the oldest beyond `limit` (a dict keeps
    insertion order). The service's threads share one renderer, and the compiled code and what
    templates read are shared by the whole process: adding and dropping under one lock, no
    thread drops what another just dropped, or iterates a memo another is growing."""
    with _KEEPING:
        entries[key] = value
        while len(entries) > limit:
            del entries[next(iter(entries))]
    return value


class _Compiled(BytecodeCache):
    """Templates compiled once a process: a renderer over the same sources (a new one on each
    configuration reload, cluster apply or command) takes their code from here instead of
    compiling them again. Every renderer's environment is configured alike, so the code of a
    source is the same for all. The `SOURCES` latest sources are kept."""

    def __init__(self) -> None:
        self._code: dict[tuple[str, str], CodeType] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        bucket.code = self._code.get((bucket.key, bucket.checksum))

    def dump_bytecode(self, bucket: Bucket) -> None:
        assert bucket.code is not None
        _keep(self._code, (bucket.key, bucket.checksum), bucket.code, SOURCES)


_COMPILED = _Compiled()
# HTML templates escape what they print. Every render asks this of its template's name: the
# answer is worked out once a name.
_AUTOESCAPE = functools.cache(
    select_autoescape(enabled_extensions=("html.j2",), default_for_string=False)
)
# what each template source reads of its variables (see Renderer._readers), by name and source
_READERS: dict[tuple[str, str], tuple[Reader, ...] | None] = {}


@functools.lru_cache(maxsize=1024)  # a few meeting lengths recur across thousands of meetings
def agenda_items(minutes: int, follow_up: bool) -> tuple[AgendaItem, ...]:
    """A short timed agenda that fits the meeting's length (minutes add up to it)."""
    topics = [
        ("Welcome, purpose and the outcomes we both want", 0.10),
        ("Review of what each side agreed last time", 0.15)
        if follow_up
        else ("Your priorities and what is driving them", 0.25),
        ("Discussion of your focus areas", 0.5 if follow_up else 0.4),
        ("Decisions, next steps and owners", 0.25),
    ]
    items = [AgendaItem(topic, max(1, round(minutes * share))) for topic, share in topics]
    drift = minutes - sum(item.minutes for item in items)
    discussion = items[2]
    items[2] = AgendaItem(discussion.topic, max(1, discussion.minutes + drift))
    return tuple(items)


# the C locale's names, which strftime's %a and %b print (the agent never sets a locale)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# what %02d prints of a day, an hour or a minute
_TWO_DIGITS = tuple(f"{number:02d}" for number in range(60))


# the instants `_when` last printed, and what it printed: a meeting's prep and debrief are
# rendered one after the other, and each prints the meeting's time (one tuple, replaced whole,
# so that threads sharing it never see one time's instants with another's text)
_latest_when: tuple[datetime | None, datetime | None, str] = (None, None, "")


def _when(start: datetime, end: datetime | None = None) -> str:
    """A meeting's time as strftime("%a %d %b %Y, %H:%M") would print it, with the end and
    the zone: "Mon 18 Mar 2030, 09:05–09:50 (CET)". Formatted by hand because strftime is
    much slower and every text shows a time; the zero-padded numbers are looked up, not
    formatted, which is what formatting them cost most. The same instants (the very objects,
    which the latest holds on to) print what they printed last time."""
    global _latest_when
    latest = _latest_when
    if latest[0] is start and latest[1] is end:
        return latest[2]
    two = _TWO_DIGITS
    text = (
        f"{_DAYS[start.weekday()]} {two[start.day]} {_MONTHS[start.month]} {start.year}, "
        f"{two[start.hour]}:{two[start.minute]}"
    )
    if end is None:
        text = f"{text} ({start.tzname()})"
    else:
        text = f"{text}–{two[end.hour]}:{two[end.minute]} ({start.tzname()})"
    _latest_when = (start, end, text)
    return text


def at_label(when: datetime) -> str:
    """An instant as a seller reads it in a sentence: "14:30 on Mon 18 Mar" (in `when`'s own
    zone), its numbers looked up as `_when`'s are."""
    two = _TWO_DIGITS
    return (
        f"{two[when.hour]}:{two[when.minute]} on {_DAYS[when.weekday()]} {two[when.day]} "
        f"{_MONTHS[when.month]}"
    )


class Renderer:
    """Renders prep checklists, agendas and debrief forms from (possibly overridden) templates."""

    def __init__(
        self, override: Path | Mapping[str, str] | None = None, memo_size: int = 100_000
    ) -> None:
        """`override`: a directory of templates, or their sources by name (see
        `template_sources`); whatever it lacks comes from the templates that ship."""
        self.memo_size = memo_size
        # by the key's hash, with the key itself to tell keys of the same hash apart
        self._memo: dict[int, tuple[tuple[object, ...], str]] = {}
        loaders: list[BaseLoader] = []
        if isinstance(override, Mapping):
            loaders.append(DictLoader(dict(override)))
            where = "templates (as applied to the cluster)"
        elif override is not None:
            if not override.is_dir():
                raise ConfigError("not a directory", where=f"templates: {override}")
            loaders.append(FileSystemLoader(str(override)))
            where = f"templates: {override}"
        else:
            where = f"templates: {default_templates_dir()}"
        loaders.append(FileSystemLoader(str(default_templates_dir())))
        self._env = _Sandbox(
            loader=ChoiceLoader(loaders),
            autoescape=_AUTOESCAPE,
            undefined=StrictUndefined,
            bytecode_cache=_COMPILED,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self._env.filters["when"] = _when
        self._env.filters["at"] = at_label
        try:
            # loaded once, as a global: importing it in each template cost a look-up per render
            self._env.globals["agreed"] = self._env.get_template(MACROS).module
            templates = {name: self._env.get_template(name) for name in TEMPLATES}
        except TemplateError as exc:
            raise ConfigError(f"template error: {exc}", where=where) from None
        # what rendering each template takes: its code, its blocks, and what Template.render()
        # copies out of its globals (a ChainMap) every call
        self._parts = {
            name: (template.root_render_func, template.blocks, dict(template.globals))
            for name, template in templates.items()
        }
        sources = {
            name: self._env.loader.get_source(self._env, name)[0]  # type: ignore[union-attr]
            for name in (*TEMPLATES, MACROS)
        }
        self.digest = _digest(sources)
        # the latest renderings of each template that is worth it, by what it reads of its
        # variables (agent.text.reads)
        self._readers = {name: self._readers_of(name, sources[name]) for name in TEMPLATES}
        self._renderings: dict[str, dict[tuple[object, ...], str]] = {
            name: {} for name in TEMPLATES
        }

    def _readers_of(self, name: str, source: str) -> tuple[Reader, ...] | None:
        """What a rendering of the template is remembered by: what it reads of each variable it
        is given; None when it is not worth remembering (it tells meetings apart). Worked out
        once a process for each source, as it is compiled once."""
        key = (name, source)
        try:
            return _READERS[key]
        except KeyError:
            pass
        tree = self._env.parse(source, name)
        meeting = fields_read(tree, "m")
        readers = (
            None
            if meeting is None or meeting & _PER_MEETING
            else tuple(
                reader(tree, variable, _READABLE[kind], _ALWAYS.get(variable, ()))
                for variable, kind in _GIVEN[name].items()
            )
        )
        return _keep(_READERS, key, readers, SOURCES)

    def remember(self, key: tuple[object, ...], compute: Callable[[], str]) -> str:
        """`compute()`, remembered under a digest of `key` (which must name everything the
        result depends on, the template included).

        The planner re-derives every block and agenda each cycle to see whether it changed;
        usually nothing did, and it needs only the fingerprint of the text, which this keeps
        (a few dozen bytes per entry), not the text. The oldest entries go first once there
        are `memo_size`; a new Renderer (other templates) starts empty.
        """
        # Kept by the key's hash, taken once: a key holds whole meeting contexts, which cost
        # far more to hash than the int, and a miss would hash it again to add the entry. Of
        # two keys with the same hash, the latest is kept.
        hashed = hash(key)
        found = self._memo.get(hashed)
        if found is None or found[0] != key:
            found = _keep(self._memo, hashed, (key, compute()), self.memo_size)
        return found[1]

    def _render(self, name: str, ctx: MeetingContext, preview: Preview | None = None) -> str:
        """The template's text for the meeting (and, to the preview, the Preview): remembered
        by what the template reads of them, as the latest `RENDERINGS` of each template worth
        it are, else rendered."""
        readers = self._readers[name]
        if readers is None:
            return self._rendered(name, ctx, preview)
        # each reader its variable's value, in the order of _GIVEN (the preview's reader last)
        key = tuple(map(operator.call, readers, (ctx, preview)))
        renderings = self._renderings[name]
        text = renderings.get(key)
        if text is None:
            text = _keep(renderings, key, self._rendered(name, ctx, preview), RENDERINGS)
        return text

    def _rendered(self, name: str, ctx: MeetingContext, preview: Preview | None) -> str:
        # Template.render(m=ctx) without reading the globals out of their ChainMap on every
        # call (twice: for the variables and for the context's list of global names, which
        # only imports use), a large part of what starting a render cost; the variables are
        # passed by position, not as keywords, which a call builds a dictionary for
        render, blocks, defined = self._parts[name]
        variables = defined.copy()  # a copy of a dict is one block copy; a merge adds each key
        variables["m"] = ctx
        if preview is not None:
            variables["p"] = preview
        try:
            text = self._env.concat(render(_Context(self._env, variables, name, blocks)))
        except TemplateError as exc:
            raise ConfigError(f"cannot render: {exc}", where=f"template {name}") from None
        return neutralise(text.strip("\n"))

    def prep(self, ctx: MeetingContext) -> str:
        """The prep's form part: callplan's notes and the seller's call plan."""
        return self._render("prep.txt.j2", ctx)

    def preview(self, ctx: MeetingContext, preview: Preview) -> str:
        """The preview at the end of a prep (it is spliced in between its markers)."""
        return self._render("preview.txt.j2", ctx, preview)

    def agenda(self, ctx: MeetingContext) -> str:
        """The customer-visible agenda; it never sees the private part of a debrief."""
        return self._render("agenda.txt.j2", ctx.shared())

    def agenda_html(self, ctx: MeetingContext) -> str:
        return self._render("agenda.html.j2", ctx.shared())

    def debrief(self, ctx: MeetingContext) -> str:
        return self._render("debrief.txt.j2", ctx)


def _digest(sources: Mapping[str, str]) -> str:
    """A digest of the sources of the templates a renderer renders from, as loaded (a changed
    file takes effect with a new renderer, as its digest does): texts rendered from other
    sources may be other."""
    digest = hashlib.sha256()
    for name, source in sources.items():
        digest.update(f"{name}\0{source}\0".encode())
    return digest.hexdigest()[:16]


def prep_title(meeting_title: str) -> str:
    return f"Prep: {meeting_title}"


def debrief_title(meeting_title: str) -> str:
    return f"Debrief: {meeting_title}"
