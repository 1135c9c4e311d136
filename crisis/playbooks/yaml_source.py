"""Reading a playbook's YAML: bytes to text, text to composed nodes, and every problem at its
file:line:column.

Nothing here knows what a playbook is: `SourceReader` refuses what a playbook never needs (anchors,
tags, deep nesting, huge files) before building a tree, and reads scalars and mappings so that any
input — broken YAML, binary junk — ends in recorded problems rather than exceptions.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from crisis.i18n import N_
from crisis.playbooks.spec import shorten

MAX_BYTES = 512 * 1024
MAX_DEPTH = 50

_INT_TAG = "tag:yaml.org,2002:int"
_OPENERS = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSERS = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
INVALID = object()  # a scalar that could not be read; its problem is already recorded


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


def read_source(path: str | os.PathLike[str]) -> str | Problem:
    """The text of a playbook file, or the one problem that keeps it from being read: unreadable,
    too big, or not UTF-8."""
    filename = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        return Problem(filename, 1, 1, N_("cannot read the file: %(reason)s", reason=str(exc.strerror or exc)))
    if len(data) > MAX_BYTES:
        return Problem(filename, 1, 1, too_big_message())
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        return Problem(
            filename,
            line,
            column,
            N_("the file is not UTF-8 text (byte 0x%(byte)02x); save it as UTF-8", byte=data[exc.start]),
        )


def too_big_message() -> str:
    return N_("the file is larger than %(size)d KiB; a playbook is a few KiB of YAML", size=MAX_BYTES // 1024)


def position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character index, counting line breaks as YAML does."""
    line, start, i = 1, 0, 0
    while i < index:
        ch = text[i]
        if ch == "\r" and i + 1 < len(text) and text[i + 1] == "\n":
            i += 1
        if ch in "\r\n\x85\u2028\u2029":
            line, start = line + 1, i + 1
        i += 1
    return line, index - start + 1


def describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return N_("a mapping")
    if isinstance(node, SequenceNode):
        return N_("a list")
    kind = node.tag.rsplit(":", 1)[-1]
    value = shorten(str(node.value))
    if kind == "null":
        return N_("an empty value")
    if kind == "bool":
        return N_("the boolean %(value)s", value=value)
    if kind in ("int", "float"):
        return N_("the number %(value)s", value=value)
    if kind == "timestamp":
        return N_("the date %(value)s", value=value)
    return N_("the text '%(value)s'", value=value)


class SourceReader:
    """Composes one YAML document and reads its nodes, recording a Problem for whatever is wrong."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []
        self._constructor = yaml.constructor.SafeConstructor()

    def add(self, node: Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.filename, mark.line + 1, mark.column + 1, message))

    def expected(self, node: Node, wanted: str) -> None:
        self.add(node, N_("expected %(wanted)s, found %(found)s", wanted=wanted, found=describe(node)))

    def _add_at(self, mark: Any, message: str) -> None:
        self.problems.append(Problem(self.filename, mark.line + 1, mark.column + 1, message))

    def parse(self, text: str) -> Node | None:
        """Compose the single document, after a token pass that rejects what we never accept."""
        if not self._scan(text):
            return None
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            self._yaml_error(text, exc)
            return None
        if root is None:
            self.problems.append(Problem(self.filename, 1, 1, N_("the file is empty; a playbook starts with key: ...")))
        return root

    def _scan(self, text: str) -> bool:
        # Aliases could expand exponentially and deep nesting would exhaust the composer's
        # recursion, so both are refused on the token stream before any tree is built.
        depth = 0
        clean = True
        try:
            for token in yaml.scan(text, Loader=yaml.SafeLoader):
                if isinstance(token, _OPENERS):
                    depth += 1
                    if depth > MAX_DEPTH:
                        self._add_at(
                            token.start_mark,
                            N_("nesting deeper than %(n)d levels; a playbook needs only a few", n=MAX_DEPTH),
                        )
                        return False
                elif isinstance(token, _CLOSERS):
                    depth -= 1
                elif isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
                    self._add_at(
                        token.start_mark,
                        N_(
                            "anchors (&name) and aliases (*name) are not allowed in a playbook; "
                            "write the value out in full"
                        ),
                    )
                    clean = False
                elif isinstance(token, yaml.TagToken):
                    self._add_at(
                        token.start_mark,
                        N_("tags such as !!str are not allowed in a playbook; write plain values"),
                    )
                    clean = False
        except yaml.YAMLError as exc:
            self._yaml_error(text, exc)
            return False
        return clean

    def _yaml_error(self, text: str, exc: yaml.YAMLError) -> None:
        if isinstance(exc, yaml.reader.ReaderError):
            line, column = position(text, exc.position)
            message = N_("character U+%(code)04X is not allowed in YAML; remove it", code=exc.character)
            self.problems.append(Problem(self.filename, line, column, message))
            return
        if isinstance(exc, yaml.MarkedYAMLError):
            mark = exc.problem_mark or exc.context_mark
            what = exc.problem or "invalid YAML"
            if exc.context:
                what = f"{what} ({exc.context})"
            if mark is not None:
                self._add_at(mark, N_("YAML syntax error: %(what)s", what=what))
                return
        self.problems.append(Problem(self.filename, 1, 1, N_("YAML syntax error: %(what)s", what=str(exc))))

    def scalar(self, node: ScalarNode) -> Any:
        """The Python value of a scalar node, or INVALID (with a problem) if it cannot be read."""
        try:
            return self._constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            self.add(
                node, N_("cannot read the value '%(value)s': %(reason)s", value=shorten(node.value), reason=str(exc))
            )
            return INVALID

    def mapping(self, node: Node, what: str, expected: str) -> list[tuple[Any, ScalarNode, Node]] | None:
        """Entries of a mapping node as (key, key node, value node); duplicates are reported."""
        if not isinstance(node, MappingNode):
            self.expected(node, expected)
            return None
        entries = []
        seen: dict[tuple[str, Any], int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.add(
                    key_node,
                    N_("keys in %(what)s must be plain words, found %(found)s", what=what, found=describe(key_node)),
                )
                continue
            # Only integer keys (severities) keep their type; 1 and true stay different keys.
            key = self.scalar(key_node) if key_node.tag == _INT_TAG else key_node.value
            if key is INVALID:
                continue
            ident = (type(key).__name__, key)
            if ident in seen:
                self.add(
                    key_node,
                    N_(
                        "duplicate key '%(key)s' in %(what)s (first used on line %(line)d)",
                        key=shorten(str(key)),
                        what=what,
                        line=seen[ident],
                    ),
                )
                continue
            seen[ident] = key_node.start_mark.line + 1
            entries.append((key, key_node, value_node))
        return entries

    def fields(
        self,
        node: Node,
        what: str,
        expected: str,
        allowed: tuple[str, ...],
        required: tuple[str, ...],
    ) -> dict[str, Node] | None:
        """Value nodes of a mapping with a fixed set of keys; unknown and missing keys reported."""
        entries = self.mapping(node, what, expected)
        if entries is None:
            return None
        found: dict[str, Node] = {}
        suggested: set[str] = set()
        for key, key_node, value_node in entries:
            if isinstance(key, str) and key in allowed:
                found[key] = value_node
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1)
            suggested.update(close)
            hint = (
                N_("did you mean '%(key)s'?", key=close[0])
                if close
                else N_("allowed keys are %(keys)s", keys=", ".join(allowed))
            )
            self.add(
                key_node, N_("unknown key '%(key)s' in %(what)s; %(hint)s", key=shorten(str(key)), what=what, hint=hint)
            )
        for key in required:
            # A misspelt key already says "did you mean"; saying "missing" too is noise.
            if key not in found and key not in suggested:
                self.add(node, N_("missing required key '%(key)s' in %(what)s", key=key, what=what))
        return found
