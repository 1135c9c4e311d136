"""The value types of a playbook's YAML: slugs, bilingual texts, durations, booleans, choices and
per-severity durations, each read from a node with a precise message when it is not one."""

from __future__ import annotations

import difflib
from datetime import timedelta

from yaml.nodes import MappingNode, Node, ScalarNode

from crisis.playbooks.spec import SEVERITIES, SLUG_RE, SeverityDurations, Text, parse_duration, shorten
from crisis.playbooks.yaml_source import INVALID, SourceReader, describe

TEXT_KEYS = ("id", "en")


def _suggest(word: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, allowed, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"use one of {', '.join(allowed)}"


class ValueReader(SourceReader):
    """A SourceReader that also reads the typed values a playbook is made of."""

    def slug(self, node: Node, what: str) -> str | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else INVALID
        if not isinstance(value, str):
            if value is not INVALID or not isinstance(node, ScalarNode):
                self.expected(node, f"a {what} such as 'verify-facts'")
            return None
        if not SLUG_RE.fullmatch(value):
            self.add(
                node,
                f"{what} '{shorten(value)}' is not a valid slug; use 2-63 lower-case letters, "
                "digits and hyphens, starting with a letter or digit, e.g. 'verify-facts'",
            )
            return None
        return value

    def text(self, node: Node, what: str) -> Text | None:
        entries = self.mapping(
            node,
            what,
            f"a mapping with the translations id and en for {what}, e.g. {{id: ..., en: ...}}",
        )
        if entries is None:
            return None
        values: dict[str, str] = {}
        for key, key_node, value_node in entries:
            if key not in TEXT_KEYS:
                self.add(
                    key_node,
                    f"unknown language '{shorten(str(key))}' in {what}; write exactly the translations id and en",
                )
                continue
            value = self.scalar(value_node) if isinstance(value_node, ScalarNode) else INVALID
            if value is None or (isinstance(value, str) and not value.strip()):
                self.add(value_node, f"empty translation '{key}' in {what}; write the text")
            elif not isinstance(value, str):
                if value is not INVALID or not isinstance(value_node, ScalarNode):
                    self.add(
                        value_node,
                        f"translation '{key}' in {what} must be text, found {describe(value_node)}",
                    )
            else:
                values[key] = value
        present = {key for key, _, _ in entries}
        for lang in TEXT_KEYS:
            if lang not in present:
                self.add(node, f"missing translation '{lang}' in {what}")
        if len(values) < len(TEXT_KEYS):
            return None
        return Text(id=values["id"], en=values["en"])

    def duration(self, node: Node, what: str) -> timedelta | None:
        if not isinstance(node, ScalarNode):
            self.expected(node, f"a duration for {what} such as 15m, 1h or 3d")
            return None
        value = self.scalar(node)
        if value is INVALID:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            self.add(
                node,
                f"{shorten(node.value)} is a plain number, not a duration; write a unit: 15m, 1h or 3d",
            )
            return None
        if not isinstance(value, str):
            self.expected(node, f"a duration for {what} such as 15m, 1h or 3d")
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.add(node, str(exc))
            return None

    def boolean(self, node: Node, what: str) -> bool | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else INVALID
        if isinstance(value, bool):
            return value
        if value is not INVALID or not isinstance(node, ScalarNode):
            self.expected(node, f"true or false for {what}")
        return None

    def choice(self, node: Node, what: str, allowed: tuple[str, ...]) -> str | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else INVALID
        if isinstance(value, str) and value in allowed:
            return value
        if isinstance(value, str):
            self.add(node, f"unknown {what} '{shorten(value)}'; {_suggest(value, allowed)}")
        elif value is not INVALID or not isinstance(node, ScalarNode):
            self.expected(node, f"a {what} ({', '.join(allowed)})")
        return None

    def severity_durations(self, node: Node, what: str, severities: frozenset[int] | None) -> SeverityDurations | None:
        """A duration, or a mapping of `default` and severities to durations."""
        if not isinstance(node, MappingNode):
            value = self.duration(node, what)
            return None if value is None else SeverityDurations(default=value)
        entries = self.mapping(node, what, "")
        if entries is None:
            return None
        if not entries:
            self.add(
                node,
                f"{what} is empty; write a duration such as 1h, or default: 1h and per-severity values",
            )
            return None
        ok = True
        default = None
        by_severity: dict[int, timedelta] = {}
        listed = ", ".join(map(str, sorted(severities or ())))
        for key, key_node, value_node in entries:
            value = self.duration(value_node, what)
            ok = ok and value is not None
            if key == "default":
                default = value
            elif isinstance(key, int) and key not in SEVERITIES:
                self.add(key_node, f"severity {key} is out of range; use 1, 2, 3 or 4")
                ok = False
            elif isinstance(key, int) and severities is not None and key not in severities:
                self.add(
                    key_node,
                    f"{what} for severity {key}, which this playbook does not list "
                    f"(severities: {listed}); remove it or add {key} to severities",
                )
                ok = False
            elif isinstance(key, int):
                if value is not None:
                    by_severity[key] = value
            elif str(key).strip().isdigit():
                self.add(
                    key_node,
                    f"severity keys are plain numbers: write {str(key).strip()}: without quotes",
                )
                ok = False
            else:
                close = difflib.get_close_matches(str(key), ("default",), n=1)
                hint = "did you mean 'default'?" if close else "use default or a severity 1-4"
                self.add(key_node, f"unknown key '{shorten(str(key))}' in {what}; {hint}")
                ok = False
        has_default = any(key == "default" for key, _, _ in entries)
        if not has_default and severities is not None:
            given = {key for key, _, _ in entries}
            missing = [s for s in sorted(severities) if s not in given]
            if missing:
                self.add(
                    node,
                    f"{what} has no 'default' and no value for severity "
                    f"{', '.join(map(str, missing))}; add default: <duration>",
                )
                ok = False
        if not ok:
            return None
        return SeverityDurations(default=default, by_severity=tuple(sorted(by_severity.items())))
