"""What a template reads of its variables, so that its renderings can be remembered by it.

Every meeting's context is different (its title, its times), but most templates read only a
few of its fields: the agenda reads the call plan, the carry-over, whether it is a first
meeting and the timed items, none of which a title or a time changes. Two contexts that agree
on every field a template reads render the same text, so a rendering can be looked up by those
fields instead of rendered again.

What a template reads is found in its syntax tree, before it ever renders: for each variable,
the attributes it reads directly (`m.title`, `m.carry.objective`: title and carry). Whenever
the template could see more of a variable than that (it passes it to a macro or filter, loops
over it, indexes it, assigns to its name, or pulls in another template that sees the whole
context), the whole variable is the key. Templates are user input, and this holds for any of
them: the analysis only decides what a rendering is remembered by, and the rendering itself
still runs in the sandbox.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection
from typing import Any

from jinja2 import nodes

# nodes through which a template reaches other templates, which see the whole context
_OTHER_TEMPLATES = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)

Reader = Callable[[Any], object]


def fields_read(template: nodes.Template, variable: str) -> frozenset[str] | None:
    """The attributes of `variable` the template reads, or None when it may see more of it
    (see the module's docstring)."""
    if any(template.find_all(_OTHER_TEMPLATES)):
        return None
    names = [node for node in template.find_all(nodes.Name) if node.name == variable]
    reads = [
        node
        for node in template.find_all(nodes.Getattr)
        if isinstance(node.node, nodes.Name) and node.node.name == variable
    ]
    # each read is one name, loaded; any other use of the name shows the variable itself
    if len(reads) != len(names) or any(name.ctx != "load" for name in names):
        return None
    return frozenset(node.attr for node in reads)


def reader(
    template: nodes.Template, variable: str, readable: Collection[str], always: Collection[str]
) -> Reader:
    """What a rendering's key holds of `variable`: the fields the template reads, and those
    named in `always`, when all of them are `readable` (plain data of the variable's type);
    else the whole value."""
    fields = fields_read(template, variable)
    if fields is None or not {*fields, *always} <= set(readable):
        return _whole
    wanted = sorted({*fields, *always})
    if not wanted:
        return _nothing
    get = operator.attrgetter(*wanted)
    return get if len(wanted) > 1 else lambda value: (get(value),)


def _whole(value: Any) -> object:
    return value


def _nothing(value: Any) -> object:
    return ()
