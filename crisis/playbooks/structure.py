"""The shape of a playbook: which keys each part has, and how stages, checklists and escalation
steps fit together (unique keys, a required item per stage, steps in order, repeats that stop)."""

from __future__ import annotations

import difflib
from datetime import timedelta
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from crisis.i18n import N_, Message
from crisis.playbooks.spec import (
    ANCHORS,
    APPROVAL_ROLES,
    CATEGORIES,
    CYCLE_UNTIL,
    OWNER_ROLES,
    RECORD_RE,
    SEVERITIES,
    STAGE_START,
    STATEMENT_KINDS,
    UNTIL_VALUES,
    ApprovalStep,
    ChecklistItemSpec,
    CycleSpec,
    EscalationStepSpec,
    PlaybookSpec,
    RepeatSpec,
    RoleSelector,
    Settings,
    SpokespersonRule,
    StageSpec,
    format_duration,
    parse_selector,
    shorten,
)
from crisis.playbooks.value_checks import ValueReader
from crisis.playbooks.yaml_source import INVALID, describe

PLAYBOOK_KEYS = ("key", "title", "description", "category", "severities", "settings", "stages")
PLAYBOOK_REQUIRED = ("key", "title", "description", "category", "severities", "stages")
# The evaluation keeps one bit per stage position in a 64-bit integer (crisis.reports.models.IncidentMeasure).
MAX_STAGES = 60
SETTINGS_KEYS = ("update_every", "review_due", "approval", "spokesperson", "media_answer_within")
APPROVAL_STEP_KEYS = ("role", "severities", "kinds")
SPOKESPERSON_KEYS = ("severities",)
STAGE_KEYS = ("key", "title", "guidance", "target", "checklist", "escalation", "severities", "measured_from", "cycle")
STAGE_REQUIRED = ("key", "title", "guidance", "checklist")  # and a target, unless the stage is a cycle
ITEM_KEYS = ("key", "text", "required", "owner", "evidence", "severities", "records")
ITEM_REQUIRED = ("key", "text")
STEP_KEYS = ("after", "notify", "repeat", "until", "severities")
SELECTOR_KEYS = ("to", "severities")
STEP_REQUIRED = ("after", "notify")


class PlaybookChecker(ValueReader):
    """Walks the composed YAML nodes of one playbook, recording problems and building the spec."""

    def __init__(self, filename: str) -> None:
        super().__init__(filename)
        self._stage_lines: dict[str, int] = {}
        self._item_lines: dict[str, int] = {}
        self._records: dict[str, int] = {}  # a recorded time's name: the line of the item recording it

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
        if stages and severities:
            for level in severities:
                if not any(stage.applies_to(level) for stage in stages):
                    self.add(
                        found["stages"],
                        N_(
                            "no stage runs at severity %(severity)s: every stage is gated by severities; "
                            "add %(severity)s to one stage's severities or remove it from the playbook's",
                            severity=level,
                        ),
                    )
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

    def gate(self, node: Node, what: str, allowed: frozenset[int] | None) -> tuple[int, ...] | None:
        """A severity gate (`severities: [3, 4]`) on a stage, item, step or selector: a subset of
        the severities it could apply at (the playbook's, or the stage's or step's gate)."""
        levels = self.severities(node)
        if levels is None or allowed is None:
            return levels
        listed = ", ".join(map(str, sorted(allowed)))
        ok = True
        for item in node.value:
            if item.value.isdigit() and int(item.value) not in allowed:
                self.add(
                    item,
                    N_(
                        "%(what)s is gated to severity %(severity)s, which it can never run at "
                        "(possible: %(listed)s); remove %(severity)s from its severities",
                        what=what,
                        severity=item.value,
                        listed=listed,
                    ),
                )
                ok = False
        return levels if ok else None

    def settings(self, node: Node, severities: frozenset[int] | None) -> Settings | None:
        found = self.fields(
            node,
            N_("settings"),
            N_("a mapping of settings (update_every, review_due, approval, spokesperson, media_answer_within)"),
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
        approval = self.approval(found["approval"], severities) if "approval" in found else defaults.approval
        spokesperson = self.spokesperson(found["spokesperson"], severities) if "spokesperson" in found else None
        media_answer_within = (
            self.severity_durations(found["media_answer_within"], "media_answer_within", severities)
            if "media_answer_within" in found
            else None
        )
        if update_every is None or review_due is None or approval is None:
            return None
        if "spokesperson" in found and spokesperson is None:
            return None
        if "media_answer_within" in found and media_answer_within is None:
            return None
        return Settings(
            update_every=update_every,
            review_due=review_due,
            approval=approval,
            spokesperson=spokesperson,
            media_answer_within=media_answer_within,
        )

    def approval(self, node: Node, severities: frozenset[int] | None) -> tuple[ApprovalStep, ...] | None:
        """Who signs a statement before it is published, in order (`- role: legal`)."""
        if not isinstance(node, SequenceNode):
            self.expected(node, N_("a list of approval steps such as [{role: supervisor}, {role: legal}]"))
            return None
        if not node.value:
            self.add(node, N_("approval is empty; list at least one step such as {role: supervisor}"))
            return None
        steps: list[ApprovalStep | None] = []
        roles: dict[str, int] = {}
        for child in node.value:
            step = self.approval_step(child, severities)
            steps.append(step)
            if step is None:
                continue
            role_node = next(v for k, v in child.value if k.value == "role")
            if step.role in roles:
                self.add(
                    role_node,
                    N_(
                        "role '%(role)s' already signs in this chain (line %(line)d); one step per role: "
                        "merge the two steps' severities and kinds",
                        role=step.role,
                        line=roles[step.role],
                    ),
                )
                steps[-1] = None
            else:
                roles[step.role] = role_node.start_mark.line + 1
        if not all(steps):
            return None
        chain = tuple(step for step in steps if step is not None)
        # Every statement the playbook can produce needs someone's signature before it is published.
        for level in sorted(severities or SEVERITIES):
            for kind in STATEMENT_KINDS:
                if not any(step.applies_to(kind, level) for step in chain):
                    self.add(
                        node,
                        N_(
                            "no approval step applies to a %(kind)s statement at severity %(severity)s, so it "
                            "would be published unsigned; add a step without severities or kinds, "
                            "such as {role: supervisor}",
                            kind=kind,
                            severity=level,
                        ),
                    )
                    return None
        return chain

    def approval_step(self, node: Node, severities: frozenset[int] | None) -> ApprovalStep | None:
        found = self.fields(
            node,
            N_("approval step"),
            N_("an approval step: a mapping such as {role: legal, severities: [3, 4]}"),
            APPROVAL_STEP_KEYS,
            ("role",),
        )
        if found is None:
            return None
        role = self.choice(found["role"], N_("approval role"), APPROVAL_ROLES) if "role" in found else None
        gate = self.gate(found["severities"], N_("approval step"), severities) if "severities" in found else ()
        kinds = self.kinds(found["kinds"]) if "kinds" in found else ()
        if None in (role, gate, kinds):
            return None
        return ApprovalStep(role=role, severities=gate, kinds=kinds)

    def kinds(self, node: Node) -> tuple[str, ...] | None:
        if not isinstance(node, SequenceNode):
            self.expected(node, N_("a list of statement kinds such as [press_release, clarification]"))
            return None
        if not node.value:
            self.add(node, N_("kinds is empty; list statement kinds or leave kinds out for every kind"))
            return None
        kinds: list[str] = []
        ok = True
        for item in node.value:
            kind = self.choice(item, N_("statement kind"), STATEMENT_KINDS)
            if kind is None:
                ok = False
            elif kind in kinds:
                self.add(item, N_("duplicate statement kind '%(kind)s'", kind=kind))
                ok = False
            else:
                kinds.append(kind)
        return tuple(kinds) if ok else None

    def spokesperson(self, node: Node, severities: frozenset[int] | None) -> SpokespersonRule | None:
        found = self.fields(
            node,
            N_("spokesperson"),
            N_("a mapping such as {severities: [3, 4]}, or {} for every severity"),
            SPOKESPERSON_KEYS,
            (),
        )
        if found is None:
            return None
        gate = self.gate(found["severities"], N_("spokesperson rule"), severities) if "severities" in found else ()
        return None if gate is None else SpokespersonRule(severities=gate)

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
        gate = self.gate(found["severities"], N_("stage"), severities) if "severities" in found else ()
        # Inside a gated stage, per-severity values and gates concern only the stage's severities.
        within = frozenset(gate) if gate else severities
        title = self.text(found["title"], "title") if "title" in found else None
        guidance = self.text(found["guidance"], "guidance") if "guidance" in found else None
        target = (
            self.severity_durations(found["target"], "target", within, working_days=True) if "target" in found else None
        )
        cycle = self.cycle(found["cycle"], within) if "cycle" in found else None
        if "cycle" in found and "target" in found:
            self.add(
                found["target"],
                N_("a cycle stage is measured per cycle: remove target (each cycle's target is its 'every')"),
            )
            target = None
        elif "cycle" in found:
            target = None if cycle is None else cycle.every
        elif "target" not in found and not self._misspelt(node, ("target", "cycle")):
            self.add(node, N_("missing required key '%(key)s' in %(what)s", key="target", what=N_("stage")))
        checklist = self.checklist(found["checklist"], key or "?", within) if "checklist" in found else None
        escalation = self.escalation(found["escalation"], within) if "escalation" in found else ()
        # After the checklist: a stage may be measured from a time one of its own items records.
        measured_from = self.measured_from(found["measured_from"]) if "measured_from" in found else STAGE_START
        parts = (key, title, guidance, target, checklist, escalation, gate, measured_from)
        if any(part is None for part in parts):
            return None
        return StageSpec(
            key=key,
            title=title,
            guidance=guidance,
            target=target,
            checklist=checklist,
            escalation=escalation,
            severities=gate,
            measured_from=measured_from,
            cycle=cycle,
        )

    @staticmethod
    def _misspelt(node: Node, keys: tuple[str, ...]) -> bool:
        """An unknown key of this mapping is close to one of `keys` (it already says "did you mean")."""
        unknown = [k.value for k, _ in node.value if isinstance(k, ScalarNode) and k.value not in STAGE_KEYS]
        return any(difflib.get_close_matches(key, unknown, n=1) for key in keys)

    def cycle(self, node: Node, severities: frozenset[int] | None) -> CycleSpec | None:
        found = self.fields(
            node,
            N_("cycle"),
            N_("a mapping such as {every: 6h, until: stage_complete} or {every: 6h, until: emergency_ends}"),
            ("every", "until"),
            ("every",),
        )
        if found is None or "every" not in found:
            return None
        every = self.severity_durations(found["every"], "every", severities)
        until = self.choice(found["until"], N_("until value"), CYCLE_UNTIL) if "until" in found else "stage_complete"
        if every is None or until is None:
            return None
        return CycleSpec(every=every, until=until)

    def measured_from(self, node: Node) -> str | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else INVALID
        if not isinstance(value, str):
            if value is not INVALID or not isinstance(node, ScalarNode):
                self.expected(node, N_("stage_start, issue_first_seen or the name of a recorded time such as known_at"))
            return None
        if value in ANCHORS or value in self._records:
            return value
        named = ", ".join(sorted(self._records)) or "-"
        self.add(
            node,
            N_(
                "unknown measured_from '%(value)s'; use stage_start, issue_first_seen or a time recorded "
                "by a checklist item of this or an earlier stage (records: ...; recorded so far: %(named)s)",
                value=shorten(value),
                named=named,
            ),
        )
        return None

    def records(self, node: Node) -> str | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else INVALID
        if not isinstance(value, str) or not RECORD_RE.fullmatch(value) or value in ANCHORS:
            if value is not INVALID or not isinstance(node, ScalarNode):
                self.add(
                    node,
                    N_(
                        "records names the time this item records: 2-40 lower-case letters, digits and "
                        "underscores, starting with a letter, e.g. known_at (found %(found)s)",
                        found=describe(node),
                    ),
                )
            return None
        if value in self._records:
            self.add(
                node,
                N_(
                    "duplicate recorded time '%(value)s' (first recorded on line %(line)s)",
                    value=value,
                    line=self._records[value],
                ),
            )
            return None
        self._records[value] = node.start_mark.line + 1
        return value

    def checklist(
        self, node: Node, stage_key: str, severities: frozenset[int] | None
    ) -> tuple[ChecklistItemSpec, ...] | None:
        if not isinstance(node, SequenceNode):
            self.expected(node, N_("a list of checklist items"))
            return None
        if not node.value:
            self.add(node, N_("checklist is empty; a stage needs at least one checklist item"))
            return None
        items = [self.item(child, severities) for child in node.value]
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
        for level in sorted(severities or ()):
            if any(item.required for item in items) and not any(item.required_at(level) for item in items):
                self.add(
                    node,
                    N_(
                        "stage '%(key)s' has no required checklist item at severity %(severity)s: "
                        "every required item is gated away from it; add %(severity)s to one required item's "
                        "severities",
                        key=stage_key,
                        severity=level,
                    ),
                )
                return None
        return tuple(items)

    def item(self, node: Node, severities: frozenset[int] | None = None) -> ChecklistItemSpec | None:
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
        gate = self.gate(found["severities"], N_("checklist item"), severities) if "severities" in found else ()
        records = self.records(found["records"]) if "records" in found else None
        if None in (key, text, required, owner, evidence, gate) or ("records" in found and records is None):
            return None
        return ChecklistItemSpec(
            key=key, text=text, required=required, owner=owner, evidence=evidence, severities=gate, records=records
        )

    def escalation(self, node: Node, severities: frozenset[int] | None = None) -> tuple[EscalationStepSpec, ...] | None:
        if not isinstance(node, SequenceNode):
            self.expected(node, N_("a list of escalation steps"))
            return None
        steps = []
        # Per severity, the last step that applies at it: steps go in increasing order of 'after'
        # at every severity (with per-severity values or gates, each severity is checked apart).
        previous: dict[int, timedelta] = {}
        levels = sorted(severities) if severities else [1, 2, 3, 4]
        for child in node.value:
            step = self.step(child, severities)
            steps.append(step)
            if step is None:
                continue
            after_node = next(v for k, v in child.value if k.value == "after")
            reported = False
            for level in levels:
                after = step.after_for(level) if step.applies_to(level) and step.after.covers(level) else None
                if after is None:
                    continue
                if level in previous and after <= previous[level] and not reported:
                    self._out_of_order(after_node, step, level, previous[level])
                    reported = True
                previous[level] = after
        return tuple(steps) if all(steps) else None

    def _out_of_order(self, after_node: Node, step: EscalationStepSpec, level: int, before: timedelta) -> None:
        if isinstance(after_node, ScalarNode) and not step.severities:
            self.add(
                after_node,
                N_(
                    "escalation steps must be in increasing order of 'after': %(after)s comes after %(previous)s",
                    after=after_node.value,
                    previous=format_duration(before),
                ),
            )
            return
        self.add(
            after_node,
            N_(
                "escalation steps must be in increasing order of 'after' at every severity: at severity "
                "%(severity)s this step waits %(after)s, but the step before it already waits %(previous)s",
                severity=level,
                after=format_duration(step.after_for(level)),
                previous=format_duration(before),
            ),
        )

    def step(self, node: Node, severities: frozenset[int] | None = None) -> EscalationStepSpec | None:
        found = self.fields(
            node,
            N_("escalation step"),
            N_("an escalation step: a mapping with after and notify"),
            STEP_KEYS,
            STEP_REQUIRED,
        )
        if found is None:
            return None
        gate = self.gate(found["severities"], N_("escalation step"), severities) if "severities" in found else ()
        within = frozenset(gate) if gate else severities
        after = self.severity_durations(found["after"], "after", within) if "after" in found else None
        notify = self.notify(found["notify"], within) if "notify" in found else None
        repeat = self.repeat(found["repeat"], within) if "repeat" in found else None
        until = self.choice(found["until"], N_("until value"), UNTIL_VALUES) if "until" in found else "stage_complete"
        if None in (after, notify, until, gate) or ("repeat" in found and repeat is None):
            return None
        return EscalationStepSpec(after=after, notify=notify, repeat=repeat, until=until, severities=gate)

    def notify(self, node: Node, severities: frozenset[int] | None = None) -> tuple[RoleSelector, ...] | None:
        if not isinstance(node, SequenceNode):
            self.expected(node, N_("a list of role selectors such as [supervisor@own]"))
            return None
        if not node.value:
            self.add(node, N_("notify is empty; list at least one role selector such as supervisor@own"))
            return None
        selectors: list[RoleSelector] = []
        ok = True
        seen: set[str] = set()
        for child in node.value:
            gate: tuple[int, ...] | None = ()
            if isinstance(child, MappingNode):
                # {to: head@own, severities: [3, 4]}: a selector told only at some severities.
                found = self.fields(
                    child,
                    N_("role selector"),
                    N_("a role selector such as supervisor@own, or {to: head@own, severities: [3, 4]}"),
                    SELECTOR_KEYS,
                    ("to", "severities"),
                )
                if found is None or "to" not in found or "severities" not in found:
                    ok = False
                    continue
                gate = self.gate(found["severities"], N_("role selector"), severities)
                child = found["to"]
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
            if str(selector) in seen:
                self.add(child, N_("duplicate selector '%(value)s' in notify", value=shorten(value)))
                ok = False
            seen.add(str(selector))
            if gate is None:
                ok = False
                continue
            selectors.append(RoleSelector(selector.role, selector.scope, gate))
        return tuple(selectors) if ok else None

    def repeat(self, node: Node, severities: frozenset[int] | None = None) -> RepeatSpec | None:
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
        every = self.severity_durations(found["every"], "every", severities) if "every" in found else None
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
