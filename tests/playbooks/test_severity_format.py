"""The severity-aware playbook format: per-severity escalation (`after`, `repeat.every`), and
severity gates on steps, role selectors, stages and checklist items. Good and bad files, each
problem at its line and column."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from crisis.playbooks.spec import PlaybookSpec, describe_step, to_yaml
from crisis.playbooks.validator import validate_file, validate_text
from tests.playbooks.test_validator import BASE, edit, found

FIXTURE = Path(__file__).parent / "fixtures" / "severity-gates.yaml"
M = timedelta(minutes=1)


def test_the_severity_gates_fixture_is_valid_and_reads_as_written() -> None:
    result = validate_file(FIXTURE)
    assert result.problems == []
    spec = result.spec
    verify, statement, monitor = spec.stages
    first, second = verify.escalation
    assert [first.after_for(s) for s in (1, 3, 4)] == [45 * M, 45 * M, 15 * M]
    assert [first.repeat.every_for(s) for s in (1, 4)] == [30 * M, 10 * M]
    assert [str(s) for s in first.notify_for(1)] == ["supervisor@own"]
    assert [str(s) for s in first.notify_for(3)] == ["supervisor@own", "head@own"]
    assert [second.applies_to(s) for s in (1, 2, 3, 4)] == [False, False, True, True]
    assert [statement.applies_to(s) for s in (1, 2)] == [False, True] and monitor.applies_to(1)
    assert [verify.checklist[1].required_at(s) for s in (1, 3)] == [False, True]


def test_a_severity_aware_spec_round_trips_through_canonical_json_and_yaml() -> None:
    spec = validate_file(FIXTURE).spec
    assert PlaybookSpec.from_canonical(spec.to_canonical()) == spec
    again = validate_text(to_yaml(spec), "severity-gates.yaml")
    assert again.problems == [] and again.spec.content_hash() == spec.content_hash()


def test_playbooks_without_gates_keep_their_canonical_form() -> None:
    step = validate_text(BASE).spec.stages[0].escalation[0].to_canonical()
    assert step == {
        "after": "15m",
        "notify": ["supervisor@own"],
        "repeat": {"every": "15m", "max": 3},
        "until": "acknowledged",
    }


def test_a_step_with_a_per_severity_wait_is_described_with_each_severity() -> None:
    step = validate_file(FIXTURE).spec.stages[0].escalation[0]
    assert describe_step(step, "en") == (
        "If this stage is not complete 45 minutes (severity 4: 15 minutes) after it starts, notify the "
        "supervisor of the own unit and the head of the own unit (at severity 3 and 4); repeat every "
        "30 minutes (severity 4: 10 minutes), at most 2 times, until the stage is complete."
    )
    gated = validate_file(FIXTURE).spec.stages[0].escalation[1]
    assert describe_step(gated, "id").endswith("(hanya pada keparahan 3 dan 4).")


# --- bad files ------------------------------------------------------------------------------


def test_per_severity_after_for_a_severity_the_playbook_does_not_list() -> None:
    text = edit("      - after: 1h\n", "      - after: {default: 1h, 1: 30m}\n")
    assert found(text) == [
        (
            24,
            30,
            "after for severity 1, which this playbook does not list (severities: 2, 3, 4); "
            "remove it or add 1 to severities",
        )
    ]


def test_per_severity_after_must_increase_at_every_severity() -> None:
    # At severity 4 the second step (10m) would come before the first (15m).
    text = edit("      - after: 1h\n", "      - after: {default: 1h, 4: 10m}\n")
    assert found(text) == [
        (
            24,
            16,
            "escalation steps must be in increasing order of 'after' at every severity: at severity 4 "
            "this step waits 10m, but the step before it already waits 15m",
        )
    ]


def test_a_gated_step_is_only_ordered_against_steps_at_its_severities() -> None:
    # The second step only runs at severity 4, where the first waits 5m: 10m is in order.
    text = edit("      - after: 15m\n", "      - after: {default: 15m, 4: 5m}\n")
    text = edit("      - after: 1h\n", "      - after: 10m\n        severities: [4]\n", text)
    assert found(text) == []


def test_per_severity_repeat_without_a_value_for_a_severity() -> None:
    text = edit("repeat: {every: 15m, max: 3}", "repeat: {every: {4: 5m}, max: 3}")
    assert found(text) == [(22, 25, "every has no 'default' and no value for severity 2, 3; add default: <duration>")]


def test_step_gated_to_a_severity_the_playbook_does_not_list() -> None:
    text = edit("        until: acknowledged\n", "        until: acknowledged\n        severities: [1, 3]\n")
    assert found(text) == [
        (
            24,
            22,
            "escalation step is gated to severity 1, which it can never run at (possible: 2, 3, 4); "
            "remove 1 from its severities",
        )
    ]


def test_selector_gate_outside_its_steps_gate_and_a_selector_mapping_without_severities() -> None:
    text = edit(
        "        notify: [head@own, on_duty@central]\n",
        "        notify: [{to: head@own, severities: [2]}, {to: on_duty@central}]\n        severities: [3, 4]\n",
    )
    assert found(text) == [
        (
            25,
            46,
            "role selector is gated to severity 2, which it can never run at (possible: 3, 4); "
            "remove 2 from its severities",
        ),
        (25, 51, "missing required key 'severities' in role selector"),
    ]


def test_unknown_key_in_a_selector_mapping_suggests_the_close_one() -> None:
    text = edit("notify: [head@own, on_duty@central]", "notify: [{to: head@own, severity: [3]}]")
    assert found(text) == [(25, 33, "unknown key 'severity' in role selector; did you mean 'severities'?")]


def test_stage_and_item_gates_are_checked() -> None:
    text = edit("    target: 1d\n", "    target: 1d\n    severities: [5]\n")
    text = edit("        owner: supervisor\n", "        owner: supervisor\n        severities: []\n", text)
    assert found(text) == [
        (18, 21, "severities is empty; list at least one severity from 1 to 4"),
        (
            31,
            18,
            "severity 5 is out of range; use 1 (minimal), 2 (moderate), 3 (intense) or 4 (severe)",
        ),
    ]


def test_a_severity_at_which_no_stage_runs() -> None:
    text = edit("    target: {default: 1h, 4: 15m}\n", "    target: {default: 1h, 4: 15m}\n    severities: [3, 4]\n")
    text = edit("    target: 1d\n", "    target: 1d\n    severities: [4]\n", text)
    assert found(text) == [
        (
            10,
            3,
            "no stage runs at severity 2: every stage is gated by severities; "
            "add 2 to one stage's severities or remove it from the playbook's",
        )
    ]


def test_a_stage_whose_only_required_item_is_gated_away_at_a_severity() -> None:
    text = edit("        evidence: true\n", "        evidence: true\n        severities: [3, 4]\n")
    assert found(text) == [
        (
            15,
            7,
            "stage 'acknowledge' has no required checklist item at severity 2: every required item is "
            "gated away from it; add 2 to one required item's severities",
        )
    ]


def test_the_schema_describes_the_severity_aware_format() -> None:
    import json

    import jsonschema
    import yaml

    schema = json.loads((Path(__file__).resolve().parents[2] / "sops" / "schema.json").read_text())
    # Through JSON, as an editor sees it: severity keys (4: 15m) become strings.
    data = json.loads(json.dumps(yaml.safe_load(FIXTURE.read_text())))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(data)  # the fixture's gates and per-severity waits are described
    data["stages"][0]["escalation"][0]["notify"][1] = {"to": "head@own"}
    try:
        jsonschema.Draft202012Validator(schema).validate(data)
    except jsonschema.ValidationError:
        return
    raise AssertionError("a gated selector without severities passed the schema")


# --- working days -----------------------------------------------------------------------------


def test_a_stage_target_in_working_days_is_valid_and_keeps_its_spelling() -> None:
    from crisis.playbooks.spec import WorkingDays

    spec = validate_file(Path(__file__).parent / "fixtures" / "working-days.yaml").spec
    assert spec.stages[0].target_for(2) == WorkingDays(3) and spec.stages[0].target_for(4) == WorkingDays(1)
    assert spec.stages[0].to_canonical()["target"] == {"default": "3wd", "4": "1wd"}
    assert PlaybookSpec.from_canonical(spec.to_canonical()) == spec


def test_working_days_only_in_a_stage_target_and_within_bounds() -> None:
    text = edit("      - after: 1h\n", "      - after: 2wd\n")
    text = edit("    target: 1d\n", "    target: 0wd\n", text)
    assert found(text) == [
        (
            24,
            16,
            "2wd counts working days, which only a stage's target can do; write after in minutes, hours or days",
        ),
        (29, 13, "'0wd' must be from 1 to 250 working days"),
    ]


def test_the_schema_describes_working_day_targets() -> None:
    import json

    import jsonschema
    import yaml

    schema = json.loads((Path(__file__).resolve().parents[2] / "sops" / "schema.json").read_text())
    path = Path(__file__).parent / "fixtures" / "working-days.yaml"
    data = json.loads(json.dumps(yaml.safe_load(path.read_text())))
    jsonschema.Draft202012Validator(schema).validate(data)
    data["stages"][0]["escalation"][0]["after"] = "2wd"  # waits stay in minutes, hours or days
    assert not jsonschema.Draft202012Validator(schema).is_valid(data)


# --- clocks anchored to a recorded time -----------------------------------------------------------

ANCHORED = Path(__file__).parent / "fixtures" / "anchored-clock.yaml"


def test_an_anchored_playbook_is_valid_and_round_trips() -> None:
    spec = validate_file(ANCHORED).spec
    triage, notice = spec.stages
    assert (triage.measured_from, notice.measured_from) == ("issue_first_seen", "known_at")
    assert triage.checklist[0].records == "known_at"
    assert PlaybookSpec.from_canonical(spec.to_canonical()) == spec
    assert validate_text(to_yaml(spec), "anchored-clock.yaml").spec.content_hash() == spec.content_hash()


def test_measured_from_a_time_nobody_records_yet() -> None:
    # The first stage cannot count from a time that only a later stage records.
    text = edit(
        "    target: {default: 1h, 4: 15m}\n", "    target: {default: 1h, 4: 15m}\n    measured_from: known_at\n"
    )
    text = edit(
        "        text: {id: Laporan, en: Report}\n",
        "        text: {id: Laporan, en: Report}\n        records: known_at\n",
        text,
    )
    assert found(text) == [
        (
            14,
            20,
            "unknown measured_from 'known_at'; use stage_start, issue_first_seen or a time recorded by a "
            "checklist item of this or an earlier stage (records: ...; recorded so far: -)",
        )
    ]


def test_a_recorded_time_needs_a_name_and_only_one_item_records_it() -> None:
    text = edit("        evidence: true\n", "        evidence: true\n        records: Known-At\n")
    text = edit(
        "        text: {id: Laporan, en: Report}\n",
        "        text: {id: Laporan, en: Report}\n        records: stage_start\n",
        text,
    )
    assert found(text) == [
        (
            19,
            18,
            "records names the time this item records: 2-40 lower-case letters, digits and underscores, "
            "starting with a letter, e.g. known_at (found the text 'Known-At')",
        ),
        (
            34,
            18,
            "records names the time this item records: 2-40 lower-case letters, digits and underscores, "
            "starting with a letter, e.g. known_at (found the text 'stage_start')",
        ),
    ]
    twice = edit("        evidence: true\n", "        evidence: true\n        records: known_at\n")
    twice = edit(
        "        text: {id: Laporan, en: Report}\n",
        "        text: {id: Laporan, en: Report}\n        records: known_at\n",
        twice,
    )
    assert found(twice) == [(34, 18, "duplicate recorded time 'known_at' (first recorded on line 19)")]


# --- repeating stages -------------------------------------------------------------------------------

CYCLE = Path(__file__).parent / "fixtures" / "update-cycle.yaml"


def test_a_cycle_stage_is_valid_its_target_is_one_cycle_and_it_round_trips() -> None:
    spec = validate_file(CYCLE).spec
    updates = spec.stages[1]
    assert updates.cycle.every_for(3) == 360 * M and updates.cycle.every_for(4) == 180 * M
    assert updates.target_for(4) == 180 * M and updates.cycle.until == "stage_complete"
    assert PlaybookSpec.from_canonical(spec.to_canonical()) == spec
    assert validate_text(to_yaml(spec), "update-cycle.yaml").spec.content_hash() == spec.content_hash()


def test_a_cycle_stage_with_a_target_too_and_a_cycle_without_every() -> None:
    text = edit("    target: 1d\n", "    target: 1d\n    cycle: {every: 6h, until: forever}\n")
    assert found(text) == [
        (29, 13, "a cycle stage is measured per cycle: remove target (each cycle's target is its 'every')"),
        (30, 31, "unknown until value 'forever'; use one of stage_complete, emergency_ends"),
    ]
    text = edit("    target: 1d\n", "    cycle: {until: stage_complete}\n")
    assert found(text) == [(29, 12, "missing required key 'every' in cycle")]


def test_a_stage_without_target_or_cycle() -> None:
    text = edit("    target: 1d\n", "")
    assert found(text) == [(26, 5, "missing required key 'target' in stage")]


def test_the_schema_describes_anchors_and_cycles() -> None:
    import json

    import jsonschema
    import yaml

    schema = json.loads((Path(__file__).resolve().parents[2] / "sops" / "schema.json").read_text())
    for path in (ANCHORED, CYCLE):
        jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(yaml.safe_load(path.read_text()))))
    both = yaml.safe_load(CYCLE.read_text())
    both["stages"][1]["target"] = "6h"  # a cycle stage has no target
    assert not jsonschema.Draft202012Validator(schema).is_valid(json.loads(json.dumps(both)))
