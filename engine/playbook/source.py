"""Safe, bounded YAML with source positions.

Only ``yaml.SafeLoader`` constructs are accepted; the document is composed to
nodes first so that every value keeps its line and column. Mappings become
``dict``s whose positions are kept in a side table keyed by the path to each
value. Guards: file size, duplicate keys, non-string keys, unknown tags, and the
number of nodes reachable through aliases (a "billion laughs" file fails fast),
recursive aliases and nesting depth (both would otherwise exhaust the Python stack).
Timestamps stay the strings they were written as: a playbook is JSON-shaped data
and ``since: 2026-11-01`` is parsed where it is used, by ``engine.timeutil``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.issues import Code, Issue, Location

MAX_BYTES = 1024 * 1024
MAX_NODES = 100_000  # nodes visited, aliases included: bounds expansion
MAX_DEPTH = 64  # nesting of mappings and lists; real playbooks need less than 10

Path = tuple[str | int, ...]
# libyaml composes the same nodes (with marks) several times faster and bounds
# nesting itself; the pure-Python loader is the fallback where it is not built in.
_Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)
_SAFE_TAGS = {
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}


@dataclass
class Source:
    """A loaded YAML document: its data and the location of every value and key."""

    path: str
    data: Any = None
    values: dict[Path, Location] = field(default_factory=dict)
    keys: dict[Path, Location] = field(default_factory=dict)
    block_scalars: set[Path] = field(default_factory=set)  # values written with | or >

    def at(self, path: Path) -> Location:
        """The nearest known location for ``path`` (walking up to the parent)."""
        p = tuple(path)
        while p:
            if p in self.values:
                return self.values[p]
            p = p[:-1]
        return self.values.get((), Location(self.path, 1, 1))

    def key_at(self, path: Path) -> Location:
        return self.keys.get(tuple(path), self.at(path))


class _Budget(Exception):
    """The document is too large once aliases are expanded."""

    def __init__(self, path: Path) -> None:
        super().__init__("expansion budget exceeded")
        self.path = path


class _Refused(Exception):
    """A structural problem that stops building: a recursive alias, too deep a nesting."""

    def __init__(self, node: yaml.Node, code: Code, message: str, hint: str) -> None:
        super().__init__(message)
        self.node = node
        self.code = code
        self.message = message
        self.hint = hint


class _Builder:
    def __init__(self, src: Source) -> None:
        self.src = src
        self.issues: list[Issue] = []
        self.visited = 0
        self.active: set[int] = set()  # ids of the collections being built (recursion guard)
        self.constructor = yaml.SafeLoader("")  # only for scalar resolution

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.src.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def error(self, node: yaml.Node, code: Code, message: str, hint: str | None = None) -> None:
        self.issues.append(Issue("error", message, self.loc(node), hint, code=code))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:  # _bomb measured first; this bound backs it up
            raise _Budget(path)
        if isinstance(node, yaml.CollectionNode):
            if id(node) in self.active:
                raise _Refused(
                    node,
                    Code.RECURSIVE_ALIAS,
                    "a recursive alias (a value that contains itself)",
                    "remove it",
                )
            if len(self.active) >= MAX_DEPTH:
                raise _Refused(
                    node,
                    Code.TOO_DEEP,
                    f"the document nests deeper than {MAX_DEPTH} levels",
                    "flatten it",
                )
            self.active.add(id(node))
            try:
                return self._build(node, path)
            finally:
                self.active.discard(id(node))
        return self._build(node, path)

    def _build(self, node: yaml.Node, path: Path) -> Any:
        self.src.values.setdefault(path, self.loc(node))
        if node.tag not in _SAFE_TAGS:
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            self.error(
                node,
                Code.YAML_TAG,
                f"the YAML tag {tag!r} is not allowed",
                "playbooks are plain data: remove the tag",
            )
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.error(
                        key_node,
                        Code.MERGE_KEY,
                        "YAML merge keys (<<) are not supported",
                        "write keys out",
                    )
                    continue
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != (
                    "tag:yaml.org,2002:str"
                ):
                    if key_node.tag == "tag:yaml.org,2002:bool":
                        # YAML 1.1 reads on/off/yes/no as booleans, even as keys
                        self.error(
                            key_node,
                            Code.BOOLEAN_KEY,
                            f"the key {key_node.value!r} is read as a boolean, not a string",
                            f"quote it: '{key_node.value}':",
                        )
                    else:
                        self.error(
                            key_node,
                            Code.NON_STRING_KEY,
                            "mapping keys must be strings",
                            "quote the key",
                        )
                    continue
                key = str(key_node.value)
                if key in out:
                    first = self.src.keys[(*path, key)]
                    self.error(
                        key_node,
                        Code.DUPLICATE_KEY,
                        f"duplicate key {key!r} (first at line {first.line})",
                        "a key may appear once per mapping; remove or rename one",
                    )
                    continue
                self.src.keys[(*path, key)] = self.loc(key_node)
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        if node.style in ("|", ">"):
            self.src.block_scalars.add(path)
        if node.tag == "tag:yaml.org,2002:timestamp":
            return str(node.value)
        return self.constructor.construct_object(node, deep=True)


def _children(node: yaml.Node) -> list[yaml.Node]:
    """The nodes the builder visits under ``node`` (mapping values, sequence items)."""
    if isinstance(node, yaml.MappingNode):
        return [value for _, value in node.value]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expanded_sizes(root: yaml.Node) -> dict[int, int]:
    """How many nodes each composed node expands to once aliases are followed, capped.

    An alias is the same node object reached twice, so sizes are computed once
    per distinct node: a "billion laughs" file is measured in microseconds, before
    anything is built. Iterative (no recursion limit); a node inside its own
    value (a recursive alias) counts 0 here and is reported by the builder.
    """
    size: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        nid = id(node)
        if children_done:
            open_.discard(nid)
            total = 1 + sum(size.get(id(c), 0) for c in _children(node))
            size[nid] = min(total, MAX_NODES + 1)  # keep the sums small
            continue
        if nid in size or nid in open_:
            continue
        open_.add(nid)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)
    return size


def _bomb(root: yaml.Node, path: str) -> Issue | None:
    """An issue when ``root`` expands beyond ``MAX_NODES``, at the top-level key to blame."""
    sizes = _expanded_sizes(root)
    if sizes[id(root)] <= MAX_NODES:
        return None
    where = Location(path, 1, 1)
    if isinstance(root, yaml.MappingNode):
        seen = 1
        for key, value in root.value:
            seen += sizes[id(value)]
            if seen > MAX_NODES:
                where = Location(path, key.start_mark.line + 1, key.start_mark.column + 1)
                break
    return Issue(
        "error",
        f"the document expands to more than {MAX_NODES} nodes (alias bomb?)",
        where,
        "remove the repeated *aliases",
        code=Code.ALIAS_BOMB,
    )


def load_yaml(
    raw: bytes, path: str, *, loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = _Loader
) -> tuple[Source, list[Issue]]:
    """Parse ``raw`` into a ``Source``; problems come back as issues, never as exceptions.

    ``loader`` picks the parser (libyaml by default); tests pass ``yaml.SafeLoader``
    to check that the pure-Python fallback behaves the same.
    """
    text, issues = _text(raw, path)
    if text is None:
        return Source(path), issues
    nodes, issues = _compose(text, path, loader, single=True)
    if not nodes:
        return Source(path), issues
    return _source_of(nodes[0], path)


def load_yaml_all(
    raw: bytes, path: str, *, loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = _Loader
) -> tuple[list[Source], list[Issue]]:
    """Every document of a YAML stream (``---`` between them, as a Sigma rule and its
    correlation are written), each a ``Source`` with positions in the one file; the
    same guards as ``load_yaml`` (its file size bounds the whole stream)."""
    text, issues = _text(raw, path)
    if text is None:
        return [], issues
    nodes, issues = _compose(text, path, loader, single=False)
    sources: list[Source] = []
    for node in nodes:
        src, found = _source_of(node, path)
        sources.append(src)
        issues.extend(found)
    return sources, issues


def _text(raw: bytes, path: str) -> tuple[str | None, list[Issue]]:
    """The file's text, or the issue that it is too large or not UTF-8."""
    top = Location(path, 1, 1)
    if len(raw) > MAX_BYTES:
        return None, [
            Issue("error", f"file is larger than {MAX_BYTES} bytes", top, code=Code.FILE_TOO_LARGE)
        ]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [
            Issue(
                "error",
                f"file is not valid UTF-8 (byte {exc.start})",
                Location(path, line, 1),
                "save the file as UTF-8",
                code=Code.NOT_UTF8,
            )
        ]
    return text.removeprefix("\ufeff"), []


def _compose(
    text: str,
    path: str,
    loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader],
    *,
    single: bool,
) -> tuple[list[yaml.Node], list[Issue]]:
    """The composed document nodes (one, or every one of a stream), or why there are none."""
    top = Location(path, 1, 1)
    try:
        parser = loader(text)
        try:
            if single:
                node = parser.get_single_node()
                nodes = [] if node is None else [node]
            else:
                nodes = []
                while parser.check_node():
                    each = parser.get_node()
                    if each is not None:
                        nodes.append(each)
        finally:
            parser.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(path, mark.line + 1, mark.column + 1) if mark else top
        return [], [
            Issue("error", f"YAML syntax error: {exc.problem or exc}", loc, code=Code.YAML_SYNTAX)
        ]
    except yaml.YAMLError as exc:
        return [], [Issue("error", f"YAML error: {exc}", top, code=Code.YAML_SYNTAX)]
    except RecursionError:
        # PyYAML composes nested collections recursively: bound what an attacker can nest
        too_deep = "the document nests too deeply to be read"
        return [], [Issue("error", too_deep, top, "flatten it", code=Code.TOO_DEEP)]
    if not nodes:
        empty = Issue(
            "error", "the file is empty", top, "a playbook is a YAML mapping", code=Code.EMPTY_FILE
        )
        return [], [empty]
    return nodes, []


def _source_of(node: yaml.Node, path: str) -> tuple[Source, list[Issue]]:
    """One composed document as a ``Source``: alias bombs and refused values as issues."""
    src = Source(path)
    top = Location(path, 1, 1)
    bomb = _bomb(node, path)
    if bomb is not None:
        return src, [bomb]
    builder = _Builder(src)
    try:
        src.data = builder.build(node, ())
    except _Budget as exc:
        return src, [
            Issue(
                "error",
                f"the document expands to more than {MAX_NODES} nodes (alias bomb?)",
                src.key_at(exc.path[:1]),  # the top-level key whose value blew up
                "remove the repeated *aliases",
                code=Code.ALIAS_BOMB,
            )
        ]
    except _Refused as exc:
        return src, [Issue("error", exc.message, builder.loc(exc.node), exc.hint, code=exc.code)]
    except (yaml.YAMLError, ValueError) as exc:
        return src, [Issue("error", f"YAML value error: {exc}", top, code=Code.YAML_VALUE)]
    return src, builder.issues
