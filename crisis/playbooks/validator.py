"""Validate a playbook YAML file and build its PlaybookSpec.

Every problem is reported with file:line:column, and the validator answers any input — broken
YAML, binary junk, anchor bombs — with problems rather than exceptions.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from crisis.playbooks.spec import (
    CATEGORIES,
    OWNER_ROLES,
    SEVERITIES,
    SLUG_RE,
    UNTIL_VALUES,
    ChecklistItemSpec,
    EscalationStepSpec,
    PlaybookSpec,
    RepeatSpec,
    RoleSelector,
    Settings,
    SeverityDurations,
    StageSpec,
    Text,
    parse_duration,
    parse_selector,
    shorten,
)

MAX_BYTES = 512 * 1024
MAX_DEPTH = 50
MAX_PROBLEMS = 200

PLAYBOOK_KEYS = ("key", "title", "description", "category", "severities", "settings", "stages")
PLAYBOOK_REQUIRED = ("key", "title", "description", "category", "severities", "stages")
# The evaluation keeps one bit per stage position in a 64-bit integer (crisis.reports.models.IncidentMeasure).
MAX_STAGES = 60
SETTINGS_KEYS = ("update_every", "review_due")
STAGE_KEYS = ("key", "title", "guidance", "target", "checklist", "escalation")
STAGE_REQUIRED = ("key", "title", "guidance", "target", "checklist")
ITEM_KEYS = ("key", "text", "required", "owner", "evidence")
ITEM_REQUIRED = ("key", "text")
STEP_KEYS = ("after", "notify", "repeat", "until")
STEP_REQUIRED = ("after", "notify")
TEXT_KEYS = ("id", "en")

_INT_TAG = "tag:yaml.org,2002:int"
_OPENERS = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSERS = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
_INVALID = object()  # a scalar that could not be read; its problem is already recorded


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


@dataclass
class ValidationResult:
    problems: list[Problem] = field(default_factory=list)
    spec: PlaybookSpec | None = None  # None whenever there is a problem

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_file(path: str | os.PathLike[str]) -> ValidationResult:
    """Validate one playbook file; unreadable or non-UTF-8 files are problems, not exceptions."""
    filename = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        return _fail(filename, 1, 1, f"cannot read the file: {exc.strerror or exc}")
    if len(data) > MAX_BYTES:
        return _fail(filename, 1, 1, _too_big_message())
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        return _fail(
            filename,
            line,
            column,
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8",
        )
    return validate_text(text, filename)


def validate_text(text: str, filename: str = "<input>") -> ValidationResult:
    """Validate a playbook given as YAML text; report every problem, sorted by position."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return _fail(filename, 1, 1, _too_big_message())
    checker = _Checker(filename)
    root = checker.parse(text)
    spec = None if root is None else checker.playbook(root)
    problems = sorted(checker.problems, key=lambda p: (p.line, p.column))
    if len(problems) > MAX_PROBLEMS:
        extra = len(problems) - MAX_PROBLEMS
        last = problems[MAX_PROBLEMS - 1]
        problems = problems[:MAX_PROBLEMS] + [
            Problem(filename, last.line, last.column, f"{extra} more problems not shown")
        ]
    return ValidationResult(problems=problems, spec=None if problems else spec)


def _fail(filename: str, line: int, column: int, message: str) -> ValidationResult:
    return ValidationResult(problems=[Problem(filename, line, column, message)])


def _too_big_message() -> str:
    return f"the file is larger than {MAX_BYTES // 1024} KiB; a playbook is a few KiB of YAML"


def _position(text: str, index: int) -> tuple[int, int]:
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


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    kind = node.tag.rsplit(":", 1)[-1]
    return {
        "null": "an empty value",
        "bool": f"the boolean {node.value}",
        "int": f"the number {shorten(node.value)}",
        "float": f"the number {shorten(node.value)}",
        "timestamp": f"the date {shorten(node.value)}",
    }.get(kind, f"the text '{shorten(str(node.value))}'")


def _suggest(word: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, allowed, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"use one of {', '.join(allowed)}"


class _Checker:
    """Walks the composed YAML nodes, recording problems and building the spec."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []
        self._constructor = yaml.constructor.SafeConstructor()
        self._stage_lines: dict[str, int] = {}
        self._item_lines: dict[str, int] = {}

    def add(self, node: Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.filename, mark.line + 1, mark.column + 1, message))

    def expected(self, node: Node, wanted: str) -> None:
        self.add(node, f"expected {wanted}, found {_describe(node)}")

    def _add_at(self, mark: Any, message: str) -> None:
        self.problems.append(Problem(self.filename, mark.line + 1, mark.column + 1, message))

    # --- YAML level ----------------------------------------------------------------------

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
            self.problems.append(Problem(self.filename, 1, 1, "the file is empty; a playbook starts with key: ..."))
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
                            f"nesting deeper than {MAX_DEPTH} levels; a playbook needs only a few",
                        )
                        return False
                elif isinstance(token, _CLOSERS):
                    depth -= 1
                elif isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
                    self._add_at(
                        token.start_mark,
                        "anchors (&name) and aliases (*name) are not allowed in a playbook; "
                        "write the value out in full",
                    )
                    clean = False
                elif isinstance(token, yaml.TagToken):
                    self._add_at(
                        token.start_mark,
                        "tags such as !!str are not allowed in a playbook; write plain values",
                    )
                    clean = False
        except yaml.YAMLError as exc:
            self._yaml_error(text, exc)
            return False
        return clean

    def _yaml_error(self, text: str, exc: yaml.YAMLError) -> None:
        if isinstance(exc, yaml.reader.ReaderError):
            line, column = _position(text, exc.position)
            message = f"character U+{exc.character:04X} is not allowed in YAML; remove it"
            self.problems.append(Problem(self.filename, line, column, message))
            return
        if isinstance(exc, yaml.MarkedYAMLError):
            mark = exc.problem_mark or exc.context_mark
            what = exc.problem or "invalid YAML"
            if exc.context:
                what = f"{what} ({exc.context})"
            if mark is not None:
                self._add_at(mark, f"YAML syntax error: {what}")
                return
        self.problems.append(Problem(self.filename, 1, 1, f"YAML syntax error: {exc}"))

    def scalar(self, node: ScalarNode) -> Any:
        """The Python value of a scalar node, or _INVALID (with a problem) if it cannot be read."""
        try:
            return self._constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            self.add(node, f"cannot read the value '{shorten(node.value)}': {exc}")
            return _INVALID

    def mapping(self, node: Node, what: str, expected: str) -> list[tuple[Any, ScalarNode, Node]] | None:
        """Entries of a mapping node as (key, key node, value node); duplicates are reported."""
        if not isinstance(node, MappingNode):
            self.expected(node, expected)
            return None
        entries = []
        seen: dict[tuple[str, Any], int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.add(key_node, f"keys in {what} must be plain words, found {_describe(key_node)}")
                continue
            # Only integer keys (severities) keep their type; 1 and true stay different keys.
            key = self.scalar(key_node) if key_node.tag == _INT_TAG else key_node.value
            if key is _INVALID:
                continue
            ident = (type(key).__name__, key)
            if ident in seen:
                self.add(
                    key_node,
                    f"duplicate key '{shorten(str(key))}' in {what} (first used on line {seen[ident]})",
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
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys are {', '.join(allowed)}"
            self.add(key_node, f"unknown key '{shorten(str(key))}' in {what}; {hint}")
        for key in required:
            # A misspelt key already says "did you mean"; saying "missing" too is noise.
            if key not in found and key not in suggested:
                self.add(node, f"missing required key '{key}' in {what}")
        return found

    # --- value types ---------------------------------------------------------------------

    def slug(self, node: Node, what: str) -> str | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else _INVALID
        if not isinstance(value, str):
            if value is not _INVALID or not isinstance(node, ScalarNode):
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
            value = self.scalar(value_node) if isinstance(value_node, ScalarNode) else _INVALID
            if value is None or (isinstance(value, str) and not value.strip()):
                self.add(value_node, f"empty translation '{key}' in {what}; write the text")
            elif not isinstance(value, str):
                if value is not _INVALID or not isinstance(value_node, ScalarNode):
                    self.add(
                        value_node,
                        f"translation '{key}' in {what} must be text, found {_describe(value_node)}",
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
        if value is _INVALID:
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
        value = self.scalar(node) if isinstance(node, ScalarNode) else _INVALID
        if isinstance(value, bool):
            return value
        if value is not _INVALID or not isinstance(node, ScalarNode):
            self.expected(node, f"true or false for {what}")
        return None

    def choice(self, node: Node, what: str, allowed: tuple[str, ...]) -> str | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else _INVALID
        if isinstance(value, str) and value in allowed:
            return value
        if isinstance(value, str):
            self.add(node, f"unknown {what} '{shorten(value)}'; {_suggest(value, allowed)}")
        elif value is not _INVALID or not isinstance(node, ScalarNode):
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

    # --- structure -----------------------------------------------------------------------

    def playbook(self, root: Node) -> PlaybookSpec | None:
        found = self.fields(
            root,
            "playbook",
            "a mapping at the top level with key, title, description, category, severities and stages",
            PLAYBOOK_KEYS,
            PLAYBOOK_REQUIRED,
        )
        if found is None:
            return None
        key = self.slug(found["key"], "playbook key") if "key" in found else None
        if key is not None:
            self._check_file_name(found["key"], key)
        title = self.text(found["title"], "title") if "title" in found else None
        description = self.text(found["description"], "description") if "description" in found else None
        category = self.choice(found["category"], "category", CATEGORIES) if "category" in found else None
        severities = self.severities(found["severities"]) if "severities" in found else None
        allowed = None if severities is None else frozenset(severities)
        settings = self.settings(found["settings"], allowed) if "settings" in found else Settings()
        stages = self.stages(found["stages"], allowed) if "stages" in found else None
        if self.problems:
            return None
        return PlaybookSpec(
            key=key,
            title=title,
            description=description,
            category=category,
            severities=severities,
            settings=settings,
            stages=stages,
        )

    def _check_file_name(self, node: Node, key: str) -> None:
        path = Path(self.filename)
        if path.suffix in (".yaml", ".yml") and path.stem != key:
            self.add(
                node,
                f"key '{key}' does not match the file name '{path.name}'; "
                f"rename the file to {key}{path.suffix} or set key: {path.stem}",
            )

    def severities(self, node: Node) -> tuple[int, ...] | None:
        if not isinstance(node, SequenceNode):
            self.expected(node, "a list of severities such as [1, 2, 3, 4]")
            return None
        if not node.value:
            self.add(node, "severities is empty; list at least one severity from 1 to 4")
            return None
        seen: set[int] = set()
        ok = True
        for item in node.value:
            value = self.scalar(item) if isinstance(item, ScalarNode) else _INVALID
            if isinstance(value, int) and not isinstance(value, bool):
                if value not in SEVERITIES:
                    self.add(
                        item,
                        f"severity {shorten(str(value))} is out of range; use 1 (minimal), "
                        "2 (moderate), 3 (intense) or 4 (severe)",
                    )
                    ok = False
                elif value in seen:
                    self.add(item, f"duplicate severity {value}")
                    ok = False
                seen.add(value)
            else:
                if value is not _INVALID or not isinstance(item, ScalarNode):
                    self.expected(item, "a severity number from 1 to 4")
                ok = False
        return tuple(sorted(seen)) if ok else None

    def settings(self, node: Node, severities: frozenset[int] | None) -> Settings | None:
        found = self.fields(
            node,
            "settings",
            "a mapping of settings (update_every, review_due)",
            SETTINGS_KEYS,
            (),
        )
        if found is None:
            return None
        defaults = Settings()
        update_every = (
            self.severity_durations(found["update_every"], "update_every", severities)
            if "update_every" in found
            else defaults.update_every
        )
        review_due = self.duration(found["review_due"], "review_due") if "review_due" in found else defaults.review_due
        if update_every is None or review_due is None:
            return None
        return Settings(update_every=update_every, review_due=review_due)

    def stages(self, node: Node, severities: frozenset[int] | None) -> tuple[StageSpec, ...] | None:
        if not isinstance(node, SequenceNode):
            self.expected(node, "a list of stages")
            return None
        if not node.value:
            self.add(node, "stages is empty; a playbook needs at least one stage")
            return None
        if len(node.value) > MAX_STAGES:
            self.add(node, f"{len(node.value)} stages; a playbook has at most {MAX_STAGES}")
            return None
        stages = [self.stage(item, severities) for item in node.value]
        return tuple(stages) if all(stages) else None

    def _unique(self, node: Node, key: str | None, seen: dict[str, int], what: str) -> None:
        if key is None:
            return
        if key in seen:
            self.add(node, f"duplicate {what} '{key}' (first used on line {seen[key]})")
        else:
            seen[key] = node.start_mark.line + 1

    def stage(self, node: Node, severities: frozenset[int] | None) -> StageSpec | None:
        found = self.fields(
            node,
            "stage",
            "a stage: a mapping with key, title, guidance, target and checklist",
            STAGE_KEYS,
            STAGE_REQUIRED,
        )
        if found is None:
            return None
        key = self.slug(found["key"], "stage key") if "key" in found else None
        if key is not None:
            self._unique(found["key"], key, self._stage_lines, "stage key")
        title = self.text(found["title"], "title") if "title" in found else None
        guidance = self.text(found["guidance"], "guidance") if "guidance" in found else None
        target = self.severity_durations(found["target"], "target", severities) if "target" in found else None
        checklist = self.checklist(found["checklist"], key or "?") if "checklist" in found else None
        escalation = self.escalation(found["escalation"]) if "escalation" in found else ()
        parts = (key, title, guidance, target, checklist, escalation)
        if any(part is None for part in parts):
            return None
        return StageSpec(
            key=key,
            title=title,
            guidance=guidance,
            target=target,
            checklist=checklist,
            escalation=escalation,
        )

    def checklist(self, node: Node, stage_key: str) -> tuple[ChecklistItemSpec, ...] | None:
        if not isinstance(node, SequenceNode):
            self.expected(node, "a list of checklist items")
            return None
        if not node.value:
            self.add(node, "checklist is empty; a stage needs at least one checklist item")
            return None
        items = [self.item(child) for child in node.value]
        if not all(items):
            return None
        if not any(item.required for item in items):
            self.add(
                node,
                f"stage '{stage_key}' has no required checklist item; mark at least one item required: true",
            )
            return None
        return tuple(items)

    def item(self, node: Node) -> ChecklistItemSpec | None:
        found = self.fields(
            node,
            "checklist item",
            "a checklist item: a mapping with key and text",
            ITEM_KEYS,
            ITEM_REQUIRED,
        )
        if found is None:
            return None
        key = self.slug(found["key"], "checklist item key") if "key" in found else None
        if key is not None:
            self._unique(found["key"], key, self._item_lines, "checklist item key")
        text = self.text(found["text"], "text") if "text" in found else None
        required = self.boolean(found["required"], "required") if "required" in found else True
        owner = self.choice(found["owner"], "owner role", OWNER_ROLES) if "owner" in found else "officer"
        evidence = self.boolean(found["evidence"], "evidence") if "evidence" in found else False
        if None in (key, text, required, owner, evidence):
            return None
        return ChecklistItemSpec(key=key, text=text, required=required, owner=owner, evidence=evidence)

    def escalation(self, node: Node) -> tuple[EscalationStepSpec, ...] | None:
        if not isinstance(node, SequenceNode):
            self.expected(node, "a list of escalation steps")
            return None
        steps = []
        previous: tuple[timedelta, str] | None = None
        for child in node.value:
            step = self.step(child)
            steps.append(step)
            if step is None:
                continue
            after_node = next(v for k, v in child.value if k.value == "after")
            if previous is not None and step.after <= previous[0]:
                self.add(
                    after_node,
                    "escalation steps must be in increasing order of 'after': "
                    f"{after_node.value} comes after {previous[1]}",
                )
            previous = (step.after, after_node.value)
        return tuple(steps) if all(steps) else None

    def step(self, node: Node) -> EscalationStepSpec | None:
        found = self.fields(
            node,
            "escalation step",
            "an escalation step: a mapping with after and notify",
            STEP_KEYS,
            STEP_REQUIRED,
        )
        if found is None:
            return None
        after = self.duration(found["after"], "after") if "after" in found else None
        notify = self.notify(found["notify"]) if "notify" in found else None
        repeat = self.repeat(found["repeat"]) if "repeat" in found else None
        until = self.choice(found["until"], "until value", UNTIL_VALUES) if "until" in found else "stage_complete"
        if None in (after, notify, until) or ("repeat" in found and repeat is None):
            return None
        return EscalationStepSpec(after=after, notify=notify, repeat=repeat, until=until)

    def notify(self, node: Node) -> tuple[RoleSelector, ...] | None:
        if not isinstance(node, SequenceNode):
            self.expected(node, "a list of role selectors such as [supervisor@own]")
            return None
        if not node.value:
            self.add(node, "notify is empty; list at least one role selector such as supervisor@own")
            return None
        selectors: list[RoleSelector] = []
        ok = True
        for child in node.value:
            value = self.scalar(child) if isinstance(child, ScalarNode) else _INVALID
            if not isinstance(value, str):
                if value is not _INVALID or not isinstance(child, ScalarNode):
                    self.expected(child, "a role selector such as supervisor@own")
                ok = False
                continue
            try:
                selector = parse_selector(value)
            except ValueError as exc:
                self.add(child, str(exc))
                ok = False
                continue
            if selector in selectors:
                self.add(child, f"duplicate selector '{shorten(value)}' in notify")
                ok = False
            selectors.append(selector)
        return tuple(selectors) if ok else None

    def repeat(self, node: Node) -> RepeatSpec | None:
        found = self.fields(
            node,
            "repeat",
            "a mapping such as {every: 15m, max: 3}",
            ("every", "max"),
            (),
        )
        if found is None:
            return None
        ok = True
        if "every" not in found:
            self.add(
                node,
                "repeat needs both 'every' and 'max' so it stops; add every: <duration>",
            )
            ok = False
        if "max" not in found:
            self.add(
                node,
                "repeat needs both 'every' and 'max' so it stops; add max: <number of repeats>",
            )
            ok = False
        every = self.duration(found["every"], "every") if "every" in found else None
        count = self.repeat_max(found["max"]) if "max" in found else None
        if not ok or every is None or count is None:
            return None
        return RepeatSpec(every=every, max=count)

    def repeat_max(self, node: Node) -> int | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else _INVALID
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100:
            return value
        if value is not _INVALID or not isinstance(node, ScalarNode):
            self.add(node, f"max must be a whole number from 1 to 100, found {_describe(node)}")
        return None
