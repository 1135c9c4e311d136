"""The value types of a playbook's YAML: slugs, bilingual texts, durations, booleans, choices and
per-severity durations, each read from a node with a precise message when it is not one."""

from __future__ import annotations

import difflib
from datetime import timedelta

from yaml.nodes import MappingNode, Node, ScalarNode

from crisis.i18n import N_, Message
from crisis.playbooks.spec import SEVERITIES, SLUG_RE, SeverityDurations, Text, parse_duration, shorten
from crisis.playbooks.yaml_source import INVALID, SourceReader, describe

TEXT_KEYS = ("id", "en")


def _suggest(word: str, allowed: tuple[str, ...]) -> Message:
    close = difflib.get_close_matches(word, allowed, n=1)
    if close:
        return N_("did you mean '%(key)s'?", key=close[0])
    return N_("use one of %(values)s", values=", ".join(allowed))


class ValueReader(SourceReader):
    """A SourceReader that also reads the typed values a playbook is made of."""

    def slug(self, node: Node, what: str) -> str | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else INVALID
        if not isinstance(value, str):
            if value is not INVALID or not isinstance(node, ScalarNode):
                self.expected(node, N_("a %(what)s such as 'verify-facts'", what=what))
            return None
        if not SLUG_RE.fullmatch(value):
            self.add(
                node,
                N_(
                    "%(what)s '%(value)s' is not a valid slug; use 2-63 lower-case letters, "
                    "digits and hyphens, starting with a letter or digit, e.g. 'verify-facts'",
                    what=what,
                    value=shorten(value),
                ),
            )
            return None
        return value

    def text(self, node: Node, what: str) -> Text | None:
        entries = self.mapping(
            node,
            what,
            N_("a mapping with the translations id and en for %(what)s, e.g. {id: ..., en: ...}", what=what),
        )
        if entries is None:
            return None
        values: dict[str, str] = {}
        for key, key_node, value_node in entries:
            if key not in TEXT_KEYS:
                self.add(
                    key_node,
                    N_(
                        "unknown language '%(key)s' in %(what)s; write exactly the translations id and en",
                        key=shorten(str(key)),
                        what=what,
                    ),
                )
                continue
            value = self.scalar(value_node) if isinstance(value_node, ScalarNode) else INVALID
            if value is None or (isinstance(value, str) and not value.strip()):
                self.add(value_node, N_("empty translation '%(key)s' in %(what)s; write the text", key=key, what=what))
            elif not isinstance(value, str):
                if value is not INVALID or not isinstance(value_node, ScalarNode):
                    self.add(
                        value_node,
                        N_(
                            "translation '%(key)s' in %(what)s must be text, found %(found)s",
                            key=key,
                            what=what,
                            found=describe(value_node),
                        ),
                    )
            else:
                values[key] = value
        present = {key for key, _, _ in entries}
        for lang in TEXT_KEYS:
            if lang not in present:
                self.add(node, N_("missing translation '%(key)s' in %(what)s", key=lang, what=what))
        if len(values) < len(TEXT_KEYS):
            return None
        return Text(id=values["id"], en=values["en"])

    def duration(self, node: Node, what: str) -> timedelta | None:
        if not isinstance(node, ScalarNode):
            self.expected(node, N_("a duration for %(what)s such as 15m, 1h or 3d", what=what))
            return None
        value = self.scalar(node)
        if value is INVALID:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            self.add(
                node,
                N_(
                    "%(value)s is a plain number, not a duration; write a unit: 15m, 1h or 3d",
                    value=shorten(node.value),
                ),
            )
            return None
        if not isinstance(value, str):
            self.expected(node, N_("a duration for %(what)s such as 15m, 1h or 3d", what=what))
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.add(node, exc.args[0] if isinstance(exc.args[0], Message) else str(exc))
            return None

    def boolean(self, node: Node, what: str) -> bool | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else INVALID
        if isinstance(value, bool):
            return value
        if value is not INVALID or not isinstance(node, ScalarNode):
            self.expected(node, N_("true or false for %(what)s", what=what))
        return None

    def choice(self, node: Node, what: str, allowed: tuple[str, ...]) -> str | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else INVALID
        if isinstance(value, str) and value in allowed:
            return value
        if isinstance(value, str):
            self.add(
                node,
                N_(
                    "unknown %(what)s '%(value)s'; %(hint)s",
                    what=what,
                    value=shorten(value),
                    hint=_suggest(value, allowed),
                ),
            )
        elif value is not INVALID or not isinstance(node, ScalarNode):
            self.expected(node, N_("a %(what)s (%(values)s)", what=what, values=", ".join(allowed)))
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
                N_("%(what)s is empty; write a duration such as 1h, or default: 1h and per-severity values", what=what),
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
                self.add(key_node, N_("severity %(value)s is out of range; use 1, 2, 3 or 4", value=key))
                ok = False
            elif isinstance(key, int) and severities is not None and key not in severities:
                self.add(
                    key_node,
                    N_(
                        "%(what)s for severity %(value)s, which this playbook does not list "
                        "(severities: %(listed)s); remove it or add %(value)s to severities",
                        what=what,
                        value=key,
                        listed=listed,
                    ),
                )
                ok = False
            elif isinstance(key, int):
                if value is not None:
                    by_severity[key] = value
            elif str(key).strip().isdigit():
                self.add(
                    key_node,
                    N_("severity keys are plain numbers: write %(value)s: without quotes", value=str(key).strip()),
                )
                ok = False
            else:
                close = difflib.get_close_matches(str(key), ("default",), n=1)
                hint = N_("did you mean '%(key)s'?", key="default") if close else N_("use default or a severity 1-4")
                self.add(
                    key_node,
                    N_("unknown key '%(key)s' in %(what)s; %(hint)s", key=shorten(str(key)), what=what, hint=hint),
                )
                ok = False
        has_default = any(key == "default" for key, _, _ in entries)
        if not has_default and severities is not None:
            given = {key for key, _, _ in entries}
            missing = [s for s in sorted(severities) if s not in given]
            if missing:
                self.add(
                    node,
                    N_(
                        "%(what)s has no 'default' and no value for severity %(missing)s; add default: <duration>",
                        what=what,
                        missing=", ".join(map(str, missing)),
                    ),
                )
                ok = False
        if not ok:
            return None
        return SeverityDurations(default=default, by_severity=tuple(sorted(by_severity.items())))
