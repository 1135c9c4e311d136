"""The shape of a playbook: which keys each part has, and how stages, checklists and escalation
steps fit together (unique keys, a required item per stage, steps in order, repeats that stop)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from yaml.nodes import Node, ScalarNode, SequenceNode

from crisis.i18n import N_, Message
from crisis.playbooks.spec import (
    CATEGORIES,
    OWNER_ROLES,
    SEVERITIES,
    UNTIL_VALUES,
    ChecklistItemSpec,
    EscalationStepSpec,
    PlaybookSpec,
    RepeatSpec,
    RoleSelector,
    Settings,
    StageSpec,
    parse_selector,
    shorten,
)
from crisis.playbooks.value_checks import ValueReader
from crisis.playbooks.yaml_source import INVALID, describe

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


class PlaybookChecker(ValueReader):
    """Walks the composed YAML nodes of one playbook, recording problems and building the spec."""

    def __init__(self, filename: str) -> None:
        super().__init__(filename)
        self._stage_lines: dict[str, int] = {}
        self._item_lines: dict[str, int] = {}

    def playbook(self, root: Node) -> PlaybookSpec | None:
        found = self.fields(
            root,
            N_("playbook"),
            N_("a mapping at the top level with key, title, description, category, severities and stages"),
            PLAYBOOK_KEYS,
            PLAYBOOK_REQUIRED,
        )
        if found is None:
            return None
        key = self.slug(found["key"], N_("playbook key")) if "key" in found else None
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
                N_(
                    "key '%(key)s' does not match the file name '%(name)s'; "
                    "rename the file to %(key)s%(suffix)s or set key: %(stem)s",
                    key=key,
                    name=path.name,
                    suffix=path.suffix,
                    stem=path.stem,
                ),
            )

    def severities(self, node: Node) -> tuple[int, ...] | None:
        if not isinstance(node, SequenceNode):
            self.expected(node, N_("a list of severities such as [1, 2, 3, 4]"))
            return None
        if not node.value:
            self.add(node, N_("severities is empty; list at least one severity from 1 to 4"))
            return None
        seen: set[int] = set()
        ok = True
        for item in node.value:
            value = self.scalar(item) if isinstance(item, ScalarNode) else INVALID
            if isinstance(value, int) and not isinstance(value, bool):
                if value not in SEVERITIES:
                    self.add(
                        item,
                        N_(
                            "severity %(value)s is out of range; use 1 (minimal), "
                            "2 (moderate), 3 (intense) or 4 (severe)",
                            value=shorten(str(value)),
                        ),
                    )
                    ok = False
                elif value in seen:
                    self.add(item, N_("duplicate severity %(value)s", value=value))
                    ok = False
                seen.add(value)
            else:
                if value is not INVALID or not isinstance(item, ScalarNode):
                    self.expected(item, N_("a severity number from 1 to 4"))
                ok = False
        return tuple(sorted(seen)) if ok else None

    def settings(self, node: Node, severities: frozenset[int] | None) -> Settings | None:
        found = self.fields(
            node,
            N_("settings"),
            N_("a mapping of settings (update_every, review_due)"),
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
            self.expected(node, N_("a list of stages"))
            return None
        if not node.value:
            self.add(node, N_("stages is empty; a playbook needs at least one stage"))
            return None
        if len(node.value) > MAX_STAGES:
            self.add(node, N_("%(n)d stages; a playbook has at most %(max)d", n=len(node.value), max=MAX_STAGES))
            return None
        stages = [self.stage(item, severities) for item in node.value]
        return tuple(stages) if all(stages) else None

    def _unique(self, node: Node, key: str | None, seen: dict[str, int], what: str) -> None:
        if key is None:
            return
        if key in seen:
            self.add(
                node,
                N_("duplicate %(what)s '%(key)s' (first used on line %(line)d)", what=what, key=key, line=seen[key]),
            )
        else:
            seen[key] = node.start_mark.line + 1

    def stage(self, node: Node, severities: frozenset[int] | None) -> StageSpec | None:
        found = self.fields(
            node,
            N_("stage"),
            N_("a stage: a mapping with key, title, guidance, target and checklist"),
            STAGE_KEYS,
            STAGE_REQUIRED,
        )
        if found is None:
            return None
        key = self.slug(found["key"], N_("stage key")) if "key" in found else None
        if key is not None:
            self._unique(found["key"], key, self._stage_lines, N_("stage key"))
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
            self.expected(node, N_("a list of checklist items"))
            return None
        if not node.value:
            self.add(node, N_("checklist is empty; a stage needs at least one checklist item"))
            return None
        items = [self.item(child) for child in node.value]
        if not all(items):
            return None
        if not any(item.required for item in items):
            self.add(
                node,
                N_(
                    "stage '%(key)s' has no required checklist item; mark at least one item required: true",
                    key=stage_key,
                ),
            )
            return None
        return tuple(items)

    def item(self, node: Node) -> ChecklistItemSpec | None:
        found = self.fields(
            node,
            N_("checklist item"),
            N_("a checklist item: a mapping with key and text"),
            ITEM_KEYS,
            ITEM_REQUIRED,
        )
        if found is None:
            return None
        key = self.slug(found["key"], N_("checklist item key")) if "key" in found else None
        if key is not None:
            self._unique(found["key"], key, self._item_lines, N_("checklist item key"))
        text = self.text(found["text"], "text") if "text" in found else None
        required = self.boolean(found["required"], "required") if "required" in found else True
        owner = self.choice(found["owner"], N_("owner role"), OWNER_ROLES) if "owner" in found else "officer"
        evidence = self.boolean(found["evidence"], "evidence") if "evidence" in found else False
        if None in (key, text, required, owner, evidence):
            return None
        return ChecklistItemSpec(key=key, text=text, required=required, owner=owner, evidence=evidence)

    def escalation(self, node: Node) -> tuple[EscalationStepSpec, ...] | None:
        if not isinstance(node, SequenceNode):
            self.expected(node, N_("a list of escalation steps"))
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
                    N_(
                        "escalation steps must be in increasing order of 'after': %(after)s comes after %(previous)s",
                        after=after_node.value,
                        previous=previous[1],
                    ),
                )
            previous = (step.after, after_node.value)
        return tuple(steps) if all(steps) else None

    def step(self, node: Node) -> EscalationStepSpec | None:
        found = self.fields(
            node,
            N_("escalation step"),
            N_("an escalation step: a mapping with after and notify"),
            STEP_KEYS,
            STEP_REQUIRED,
        )
        if found is None:
            return None
        after = self.duration(found["after"], "after") if "after" in found else None
        notify = self.notify(found["notify"]) if "notify" in found else None
        repeat = self.repeat(found["repeat"]) if "repeat" in found else None
        until = self.choice(found["until"], N_("until value"), UNTIL_VALUES) if "until" in found else "stage_complete"
        if None in (after, notify, until) or ("repeat" in found and repeat is None):
            return None
        return EscalationStepSpec(after=after, notify=notify, repeat=repeat, until=until)

    def notify(self, node: Node) -> tuple[RoleSelector, ...] | None:
        if not isinstance(node, SequenceNode):
            self.expected(node, N_("a list of role selectors such as [supervisor@own]"))
            return None
        if not node.value:
            self.add(node, N_("notify is empty; list at least one role selector such as supervisor@own"))
            return None
        selectors: list[RoleSelector] = []
        ok = True
        for child in node.value:
            value = self.scalar(child) if isinstance(child, ScalarNode) else INVALID
            if not isinstance(value, str):
                if value is not INVALID or not isinstance(child, ScalarNode):
                    self.expected(child, N_("a role selector such as supervisor@own"))
                ok = False
                continue
            try:
                selector = parse_selector(value)
            except ValueError as exc:
                self.add(child, exc.args[0] if isinstance(exc.args[0], Message) else str(exc))
                ok = False
                continue
            if selector in selectors:
                self.add(child, N_("duplicate selector '%(value)s' in notify", value=shorten(value)))
                ok = False
            selectors.append(selector)
        return tuple(selectors) if ok else None

    def repeat(self, node: Node) -> RepeatSpec | None:
        found = self.fields(
            node,
            N_("repeat"),
            N_("a mapping such as {every: 15m, max: 3}"),
            ("every", "max"),
            (),
        )
        if found is None:
            return None
        ok = True
        if "every" not in found:
            self.add(
                node,
                N_("repeat needs both 'every' and 'max' so it stops; add every: <duration>"),
            )
            ok = False
        if "max" not in found:
            self.add(
                node,
                N_("repeat needs both 'every' and 'max' so it stops; add max: <number of repeats>"),
            )
            ok = False
        every = self.duration(found["every"], "every") if "every" in found else None
        count = self.repeat_max(found["max"]) if "max" in found else None
        if not ok or every is None or count is None:
            return None
        return RepeatSpec(every=every, max=count)

    def repeat_max(self, node: Node) -> int | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else INVALID
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100:
            return value
        if value is not INVALID or not isinstance(node, ScalarNode):
            self.add(node, N_("max must be a whole number from 1 to 100, found %(found)s", found=describe(node)))
        return None
