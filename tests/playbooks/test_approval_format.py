"""The playbook format for statement approval and the spokesperson (`settings.approval`,
`settings.spokesperson`) and for cycles that last while an emergency status is in force
(`cycle: {until: emergency_ends}`): good files, and each bad one refused at its line and column."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from crisis.playbooks.spec import DEFAULT_APPROVAL, ApprovalStep, PlaybookSpec, to_yaml
from crisis.playbooks.validator import validate_file, validate_text
from tests.playbooks.test_validator import BASE, edit, found

FIXTURES = Path(__file__).parent / "fixtures"
APPROVAL = FIXTURES / "statement-approval.yaml"
EMERGENCY = FIXTURES / "emergency-cycle.yaml"
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "sops" / "schema.json").read_text(encoding="utf-8"))


def with_settings(lines: str) -> str:
    """BASE with these lines added to its settings (they start on line 9)."""
    return edit("  review_due: 7d\n", "  review_due: 7d\n" + lines)


def as_editor_sees(path_or_text: Path | str) -> dict:
    text = path_or_text.read_text(encoding="utf-8") if isinstance(path_or_text, Path) else path_or_text
    return json.loads(json.dumps(yaml.safe_load(text)))


# --- good files -------------------------------------------------------------------------------


def test_the_approval_fixture_reads_as_written() -> None:
    result = validate_file(APPROVAL)
    assert result.problems == []
    settings = result.spec.settings
    assert [step.role for step in settings.approval] == ["supervisor", "legal", "leader"]
    # A press release at severity 2 needs the supervisor only; at 4 all three, in order.
    assert [step.role for _, step in settings.approval_for("press_release", 2)] == ["supervisor"]
    assert [step.role for _, step in settings.approval_for("press_release", 4)] == ["supervisor", "legal", "leader"]
    # Legal review is only for press releases and clarifications: a holding statement skips it.
    assert [(i, step.role) for i, step in settings.approval_for("holding", 4)] == [(0, "supervisor"), (2, "leader")]
    assert [settings.spokesperson_required(s) for s in (2, 3, 4)] == [False, True, True]


def test_without_approval_a_statement_needs_the_supervisor_as_before() -> None:
    settings = validate_text(BASE).spec.settings
    assert settings.approval == DEFAULT_APPROVAL == (ApprovalStep("supervisor"),)
    assert settings.spokesperson is None and not settings.spokesperson_required(4)
    # Older playbooks keep their canonical form (and so their content hash).
    assert set(settings.to_canonical()) == {"update_every", "review_due"}


def test_an_approval_chain_round_trips_through_canonical_json_and_yaml() -> None:
    spec = validate_file(APPROVAL).spec
    assert PlaybookSpec.from_canonical(spec.to_canonical()) == spec
    again = validate_text(to_yaml(spec), "statement-approval.yaml")
    assert again.problems == [] and again.spec.content_hash() == spec.content_hash()


def test_a_spokesperson_required_at_every_severity_is_written_as_an_empty_mapping() -> None:
    spec = validate_text(with_settings("  spokesperson: {}\n")).spec
    assert [spec.settings.spokesperson_required(s) for s in (2, 3, 4)] == [True, True, True]
    assert spec.settings.to_canonical()["spokesperson"] == {}
    assert validate_text(to_yaml(spec), "sample.yaml").spec == spec


def test_an_emergency_cycle_is_valid_and_round_trips() -> None:
    spec = validate_file(EMERGENCY).spec
    assert spec.stages[1].cycle.until == "emergency_ends"
    assert PlaybookSpec.from_canonical(spec.to_canonical()) == spec
    assert validate_text(to_yaml(spec), "emergency-cycle.yaml").spec.content_hash() == spec.content_hash()


def test_the_schema_describes_approval_spokesperson_and_emergency_cycles() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    for path in (APPROVAL, EMERGENCY):
        jsonschema.Draft202012Validator(SCHEMA).validate(as_editor_sees(path))
    data = as_editor_sees(APPROVAL)
    data["settings"]["approval"][1]["role"] = "lawyer"
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(data)
    data = as_editor_sees(APPROVAL)
    data["settings"]["approval"][1]["kinds"] = ["tweet"]
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(data)
    data = as_editor_sees(APPROVAL)
    data["settings"]["spokesperson"] = {"severities": [5]}
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(data)
    data = as_editor_sees(EMERGENCY)
    data["stages"][1]["cycle"]["until"] = "status_ends"
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(data)


# --- bad files --------------------------------------------------------------------------------


def test_an_unknown_approval_role_is_refused_with_a_suggestion() -> None:
    text = with_settings("  approval:\n    - role: supervisor\n    - role: legl\n")
    assert found(text) == [(11, 13, "unknown approval role 'legl'; did you mean 'legal'?")]
    text = with_settings("  approval:\n    - role: officer\n")
    assert found(text) == [(10, 13, "unknown approval role 'officer'; use one of supervisor, head, legal, leader")]


def test_an_unknown_or_repeated_statement_kind_is_refused() -> None:
    text = with_settings(
        "  approval:\n    - role: supervisor\n    - role: legal\n      kinds: [press_release, tweet, press_release]\n"
    )
    assert found(text) == [
        (12, 30, "unknown statement kind 'tweet'; use one of holding, press_release, clarification, key_messages"),
        (12, 37, "duplicate statement kind 'press_release'"),
    ]


def test_a_role_twice_in_the_chain_is_refused() -> None:
    text = with_settings("  approval:\n    - role: supervisor\n    - role: leader\n    - role: supervisor\n")
    assert found(text) == [
        (
            12,
            13,
            "role 'supervisor' already signs in this chain (line 10); one step per role: "
            "merge the two steps' severities and kinds",
        )
    ]


def test_an_approval_gate_outside_the_playbooks_severities_is_refused() -> None:
    text = with_settings("  approval:\n    - role: supervisor\n    - role: leader\n      severities: [1, 4]\n")
    assert found(text) == [
        (
            12,
            20,
            "approval step is gated to severity 1, which it can never run at (possible: 2, 3, 4); "
            "remove 1 from its severities",
        )
    ]
    text = with_settings("  approval:\n    - role: supervisor\n    - role: leader\n      severities: [4, 4]\n")
    assert found(text) == [(12, 23, "duplicate severity 4")]


def test_a_chain_that_leaves_a_statement_unsigned_is_refused() -> None:
    text = with_settings("  approval:\n    - role: legal\n      kinds: [press_release]\n")
    assert found(text) == [
        (
            10,
            5,
            "no approval step applies to a holding statement at severity 2, so it would be published unsigned; "
            "add a step without severities or kinds, such as {role: supervisor}",
        )
    ]
    assert found(with_settings("  approval: []\n")) == [
        (9, 13, "approval is empty; list at least one step such as {role: supervisor}")
    ]


def test_approval_steps_and_the_spokesperson_rule_take_only_their_keys() -> None:
    text = with_settings("  approval:\n    - rol: supervisor\n  spokesperson: {severity: [3]}\n")
    assert found(text) == [
        (10, 7, "unknown key 'rol' in approval step; did you mean 'role'?"),
        (11, 18, "unknown key 'severity' in spokesperson; did you mean 'severities'?"),
    ]
    assert found(with_settings("  spokesperson: yes\n")) == [
        (9, 17, "expected a mapping such as {severities: [3, 4]}, or {} for every severity, found the boolean yes")
    ]


def test_a_cycle_until_something_else_is_refused() -> None:
    text = edit("    target: 1d\n", "    cycle: {every: 6h, until: emergency_end}\n")
    assert found(text) == [(29, 31, "unknown until value 'emergency_end'; did you mean 'emergency_ends'?")]
