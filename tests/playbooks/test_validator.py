"""The playbook validator: every message with its exact position, and no input makes it raise."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crisis.playbooks.spec import PlaybookSpec
from crisis.playbooks.validator import (
    ITEM_KEYS,
    MAX_BYTES,
    PLAYBOOK_KEYS,
    SETTINGS_KEYS,
    STAGE_KEYS,
    STEP_KEYS,
    TEXT_KEYS,
    Problem,
    ValidationResult,
    validate_file,
    validate_text,
)

SOPS = Path(__file__).resolve().parents[2] / "sops"
LIBRARY = sorted(SOPS.glob("*.yaml"))

# Line numbers below are written against this text; edits keep lines in place where possible.
BASE = """\
key: sample
title: {id: Contoh, en: Sample}
description: {id: Contoh, en: Sample}
category: hoax
severities: [2, 3, 4]
settings:
  update_every: {default: 24h, 4: 6h}
  review_due: 7d
stages:
  - key: acknowledge
    title: {id: Terima, en: Acknowledge}
    guidance: {id: Pastikan, en: Confirm}
    target: {default: 1h, 4: 15m}
    checklist:
      - key: verify-sources
        text: {id: Cek sumber, en: Check sources}
        owner: supervisor
        evidence: true
    escalation:
      - after: 15m
        notify: [supervisor@own]
        repeat: {every: 15m, max: 3}
        until: acknowledged
      - after: 1h
        notify: [head@own, on_duty@central]
  - key: monitor
    title: {id: Pantau, en: Monitor}
    guidance: {id: Pantau, en: Monitor}
    target: 1d
    checklist:
      - key: daily-report
        text: {id: Laporan, en: Report}
"""


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def found(text: str, filename: str = "<input>") -> list[tuple[int, int, str]]:
    result = validate_text(text, filename)
    assert (result.spec is None) == bool(result.problems)
    return [(p.line, p.column, p.message) for p in result.problems]


# --- the library -------------------------------------------------------------------------


def test_library_has_the_default_playbooks() -> None:
    names = {path.stem for path in LIBRARY}
    assert {
        "viral-service-complaint",
        "hoax-clarification",
        "disaster-public-information",
        "data-leak-cyber",
        "policy-backlash",
        "official-misconduct-viral",
        "public-complaint-lapor",
    } <= names


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_library_file_validates(path: Path) -> None:
    result = validate_file(path)
    assert [str(p) for p in result.problems] == []
    assert result.spec is not None and result.spec.key == path.stem
    # SP4N-LAPOR! has three (first response, resolve, close: no separate dispute stage); the others
    # four to seven, counting the stages only some severities run.
    assert 3 <= len(result.spec.stages) <= 7


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_library_file_matches_schema(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=./schema.json\n")
    schema = json.loads((SOPS / "schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    # Through JSON, as an editor sees it: severity keys (4: 15m) become strings.
    data = json.loads(json.dumps(yaml.safe_load(text)))
    jsonschema.Draft202012Validator(schema).validate(data)


@pytest.mark.parametrize(
    "text",
    [
        edit("    guidance: {id: Pastikan", "    guidence: {id: Pastikan"),
        edit("target: 1d", "target: 15 min"),
        edit("notify: [supervisor@own]", "notify: [kepala@own]"),
        edit("repeat: {every: 15m, max: 3}", "repeat: {every: 15m}"),
        edit("title: {id: Contoh, en: Sample}", "title: {id: Contoh}"),
        BASE + "        required: false\n",
        edit("severities: [2, 3, 4]", "severities: [2, 3, 4, 7]"),
    ],
    ids=["unknown-key", "duration", "selector", "repeat", "translation", "required", "severity"],
)
def test_schema_rejects_what_the_validator_rejects(text: str) -> None:
    schema = json.loads((SOPS / "schema.json").read_text(encoding="utf-8"))
    assert found(text)
    data = json.loads(json.dumps(yaml.safe_load(text)))
    assert not jsonschema.Draft202012Validator(schema).is_valid(data)


def test_base_sample_is_valid() -> None:
    result = validate_text(BASE)
    assert result.problems == []
    assert isinstance(result.spec, PlaybookSpec)
    assert result.ok


# --- one test per kind of problem, exact position and message ----------------------------


def test_unknown_key_suggests_the_close_one_and_does_not_also_say_missing() -> None:
    text = edit("    guidance: {id: Pastikan", "    guidence: {id: Pastikan")
    assert found(text) == [(12, 5, "unknown key 'guidence' in stage; did you mean 'guidance'?")]


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    assert found(BASE + "colour: red\n") == [
        (
            33,
            1,
            "unknown key 'colour' in playbook; allowed keys are key, title, description, "
            "category, severities, settings, stages",
        )
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "15 min",
            "duration '15 min' does not parse; write a number and a unit, e.g. 15m, 1h, 3d or 1h30m",
        ),
        (
            "1H",
            "duration '1H' does not parse; write a number and a unit, e.g. 15m, 1h, 3d or 1h30m",
        ),
        ("15", "15 is a plain number, not a duration; write a unit: 15m, 1h or 3d"),
        ("0m", "duration '0m' must be more than zero"),
        ("-5m", "duration '-5m' must be more than zero"),
        ("366d", "duration '366d' is longer than the 365-day limit"),
        ("[1h]", "expected a duration for target such as 15m, 1h or 3d, found a list"),
    ],
)
def test_bad_duration(value: str, message: str) -> None:
    assert found(edit("target: 1d", f"target: {value}")) == [(29, 13, message)]


def test_duplicate_stage_key() -> None:
    text = edit("  - key: monitor", "  - key: acknowledge")
    assert found(text) == [(26, 10, "duplicate stage key 'acknowledge' (first used on line 10)")]


def test_duplicate_checklist_item_key_across_stages() -> None:
    text = edit("- key: daily-report", "- key: verify-sources")
    assert found(text) == [(31, 14, "duplicate checklist item key 'verify-sources' (first used on line 15)")]


def test_unknown_role_in_selector() -> None:
    text = edit("notify: [supervisor@own]", "notify: [kepala@own]")
    assert found(text) == [
        (
            21,
            18,
            "unknown role 'kepala' in selector 'kepala@own'; use one of officer, supervisor, head, on_duty, commander",
        )
    ]


def test_unknown_scope_in_selector() -> None:
    text = edit("[head@own, on_duty@central]", "[head@provinsi, on_duty@central]")
    assert found(text) == [
        (
            25,
            18,
            "unknown scope 'provinsi' in selector 'head@provinsi'; "
            "use own, parent, province, central or a unit code such as JATENG",
        )
    ]


def test_selector_without_scope_and_duplicate_selector() -> None:
    text = edit("[head@own, on_duty@central]", "[head, on_duty@central, on_duty@central]")
    assert found(text) == [
        (
            25,
            18,
            "selector 'head' has no scope; write head@own, head@parent, head@province, "
            "head@central or head@<UNIT CODE>",
        ),
        (25, 41, "duplicate selector 'on_duty@central' in notify"),
    ]


def test_unit_codes_and_bare_commander_are_accepted() -> None:
    text = edit("[head@own, on_duty@central]", "[head@KAB-SEMARANG, supervisor@JATENG, commander]")
    result = validate_text(text)
    assert result.problems == []
    notify = result.spec.stages[0].escalation[1].notify
    assert [str(s) for s in notify] == ["head@KAB-SEMARANG", "supervisor@JATENG", "commander@own"]
    assert notify[0].unit_code == "KAB-SEMARANG" and notify[2].unit_code is None


def test_lower_case_unit_code_is_an_unknown_scope() -> None:
    text = edit("[head@own, on_duty@central]", "[head@jateng]")
    assert found(text) == [
        (
            25,
            18,
            "unknown scope 'jateng' in selector 'head@jateng'; "
            "use own, parent, province, central or a unit code such as JATENG",
        )
    ]


def test_escalation_steps_out_of_order() -> None:
    text = edit("      - after: 1h", "      - after: 10m")
    assert found(text) == [(24, 16, "escalation steps must be in increasing order of 'after': 10m comes after 15m")]


def test_escalation_steps_with_equal_after_are_out_of_order() -> None:
    text = edit("      - after: 1h", "      - after: 15m")
    assert found(text) == [(24, 16, "escalation steps must be in increasing order of 'after': 15m comes after 15m")]


def test_repeat_without_a_bound() -> None:
    text = edit("repeat: {every: 15m, max: 3}", "repeat: {every: 15m}")
    assert found(text) == [(22, 17, "repeat needs both 'every' and 'max' so it stops; add max: <number of repeats>")]


def test_repeat_without_every_and_max_out_of_range() -> None:
    text = edit("repeat: {every: 15m, max: 3}", "repeat: {max: 0}")
    assert found(text) == [
        (22, 17, "repeat needs both 'every' and 'max' so it stops; add every: <duration>"),
        (22, 23, "max must be a whole number from 1 to 100, found the number 0"),
    ]


def test_unknown_until() -> None:
    text = edit("until: acknowledged", "until: acknowleged")
    assert found(text) == [(23, 16, "unknown until value 'acknowleged'; did you mean 'acknowledged'?")]
    text = edit("until: acknowledged", "until: ack")
    assert found(text) == [(23, 16, "unknown until value 'ack'; use one of acknowledged, stage_complete")]


def test_missing_translation() -> None:
    text = edit("title: {id: Contoh, en: Sample}", "title: {id: Contoh}")
    assert found(text) == [(2, 8, "missing translation 'en' in title")]


def test_empty_translation() -> None:
    text = edit("title: {id: Contoh, en: Sample}", "title: {id: Contoh, en: '  '}")
    assert found(text) == [(2, 25, "empty translation 'en' in title; write the text")]


def test_unknown_language_and_plain_string_text() -> None:
    text = edit("title: {id: Contoh, en: Sample}", "title: {id: Contoh, en: Sample, fr: Exemple}")
    text = edit("text: {id: Laporan, en: Report}", "text: Laporan", text)
    assert found(text) == [
        (2, 33, "unknown language 'fr' in title; write exactly the translations id and en"),
        (
            32,
            15,
            "expected a mapping with the translations id and en for text, "
            "e.g. {id: ..., en: ...}, found the text 'Laporan'",
        ),
    ]


def test_stage_without_a_required_item() -> None:
    text = BASE + "        required: false\n"
    assert found(text) == [
        (
            31,
            7,
            "stage 'monitor' has no required checklist item; mark at least one item required: true",
        )
    ]


def test_missing_required_key() -> None:
    text = edit("category: hoax\n", "")
    assert found(text) == [(1, 1, "missing required key 'category' in playbook")]


def test_missing_required_key_in_stage() -> None:
    text = edit("    target: 1d\n", "")
    assert found(text) == [(26, 5, "missing required key 'target' in stage")]


def test_wrong_type_for_stages() -> None:
    text = BASE[: BASE.index("stages:")] + "stages: {acknowledge: 1h}\n"
    assert found(text) == [(9, 9, "expected a list of stages, found a mapping")]


def test_wrong_type_for_checklist_and_boolean_and_owner() -> None:
    text = edit("owner: supervisor", "owner: kepala")
    text = edit("evidence: true", "evidence: ya", text)
    text = edit(
        "checklist:\n      - key: daily-report\n        text: {id: Laporan, en: Report}\n",
        "checklist: daily-report\n",
        text,
    )
    assert found(text) == [
        (
            17,
            16,
            "unknown owner role 'kepala'; use one of officer, supervisor, head, admin, observer, commander",
        ),
        (18, 19, "expected true or false for evidence, found the text 'ya'"),
        (30, 16, "expected a list of checklist items, found the text 'daily-report'"),
    ]


def test_unknown_category_suggests() -> None:
    text = edit("category: hoax", "category: hoaks")
    assert found(text) == [(4, 11, "unknown category 'hoaks'; did you mean 'hoax'?")]


def test_severity_out_of_range_and_duplicate_severity() -> None:
    text = edit("severities: [2, 3, 4]", "severities: [2, 3, 4, 7, 3]")
    assert found(text) == [
        (
            5,
            23,
            "severity 7 is out of range; use 1 (minimal), 2 (moderate), 3 (intense) or 4 (severe)",
        ),
        (5, 26, "duplicate severity 3"),
    ]


def test_empty_severities_and_not_a_number() -> None:
    assert found(edit("severities: [2, 3, 4]", "severities: []")) == [
        (5, 13, "severities is empty; list at least one severity from 1 to 4")
    ]
    assert found(edit("severities: [2, 3, 4]", "severities: [2, 3, high]")) == [
        (5, 20, "expected a severity number from 1 to 4, found the text 'high'")
    ]


def test_target_for_a_severity_the_playbook_does_not_list() -> None:
    text = edit("target: {default: 1h, 4: 15m}", "target: {default: 1h, 1: 15m}")
    assert found(text) == [
        (
            13,
            27,
            "target for severity 1, which this playbook does not list (severities: 2, 3, 4); "
            "remove it or add 1 to severities",
        )
    ]


def test_target_severity_out_of_range() -> None:
    text = edit("target: {default: 1h, 4: 15m}", "target: {default: 1h, 5: 15m}")
    assert found(text) == [(13, 27, "severity 5 is out of range; use 1, 2, 3 or 4")]


def test_target_without_default_must_cover_every_severity() -> None:
    text = edit("target: {default: 1h, 4: 15m}", "target: {3: 30m, 4: 15m}")
    assert found(text) == [(13, 13, "target has no 'default' and no value for severity 2; add default: <duration>")]
    full = edit("target: {default: 1h, 4: 15m}", "target: {2: 1h, 3: 30m, 4: 15m}")
    spec = validate_text(full).spec
    assert spec is not None
    assert [spec.stages[0].target_for(s).seconds // 60 for s in (2, 3, 4)] == [60, 30, 15]


def test_target_quoted_severity_key_and_misspelt_default() -> None:
    text = edit("target: {default: 1h, 4: 15m}", "target: {defualt: 1h, '4': 15m}")
    assert found(text) == [
        (
            13,
            13,
            "target has no 'default' and no value for severity 2, 3, 4; add default: <duration>",
        ),
        (13, 14, "unknown key 'defualt' in target; did you mean 'default'?"),
        (13, 27, "severity keys are plain numbers: write 4: without quotes"),
    ]


def test_update_every_follows_the_same_rules() -> None:
    text = edit("update_every: {default: 24h, 4: 6h}", "update_every: {default: 24h, 1: 6h}")
    assert found(text) == [
        (
            7,
            32,
            "update_every for severity 1, which this playbook does not list "
            "(severities: 2, 3, 4); remove it or add 1 to severities",
        )
    ]


def test_settings_are_optional_with_defaults() -> None:
    text = edit("settings:\n  update_every: {default: 24h, 4: 6h}\n  review_due: 7d\n", "")
    spec = validate_text(text).spec
    assert spec is not None
    assert spec.settings.update_every_for(4).total_seconds() == 24 * 3600
    assert spec.settings.review_due.days == 7


def test_media_answer_target_per_severity_is_read_and_kept_in_the_hash() -> None:
    text = edit("  review_due: 7d\n", "  review_due: 7d\n  media_answer_within: {default: 4h, 3: 2h, 4: 1h}\n")
    spec = validate_text(text).spec
    assert spec is not None
    assert [spec.settings.media_answer_within_for(level).total_seconds() / 3600 for level in (2, 3, 4)] == [4, 2, 1]
    plain = validate_text(BASE).spec
    assert plain is not None and plain.content_hash() != spec.content_hash()
    assert PlaybookSpec.from_canonical(spec.to_canonical()) == spec
    from crisis.playbooks.service import Change, diff

    assert diff(plain, spec) == [Change("settings", "media_answer_within", None, "default: 4h, 3: 2h, 4: 1h")]
    assert diff(spec, plain) == [Change("settings", "media_answer_within", "default: 4h, 3: 2h, 4: 1h", None)]


def test_media_answer_target_defaults_to_four_hours_and_leaves_old_hashes_alone() -> None:
    spec = validate_text(BASE).spec
    assert spec is not None
    assert spec.settings.media_answer_within_for(4).total_seconds() == 4 * 3600
    assert "media_answer_within" not in spec.to_canonical()["settings"]


def test_media_answer_target_errors_point_at_the_value() -> None:
    text = edit("  review_due: 7d\n", "  review_due: 7d\n  media_answer_within: {default: 4h, 1: 2h, 4: soon}\n")
    assert found(text) == [
        (
            9,
            38,
            "media_answer_within for severity 1, which this playbook does not list "
            "(severities: 2, 3, 4); remove it or add 1 to severities",
        ),
        (9, 48, "duration 'soon' does not parse; write a number and a unit, e.g. 15m, 1h, 3d or 1h30m"),
    ]


def test_media_answer_target_in_the_schema_too() -> None:
    schema = json.loads((SOPS / "schema.json").read_text(encoding="utf-8"))
    settings = schema["properties"]["settings"]["properties"]
    assert settings["media_answer_within"] == {
        "$ref": "#/$defs/severityDurations",
        "description": settings["media_answer_within"]["description"],
    }
    text = edit("  review_due: 7d\n", "  review_due: 7d\n  media_answer_within: {default: 4h, 4: 1h}\n")
    # Through JSON, as an editor sees it: severity keys (4: 1h) become strings.
    jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(yaml.safe_load(text))))
    wrong = edit("  review_due: 7d\n", "  review_due: 7d\n  media_answer_within: 2 jam\n")
    assert found(wrong)
    assert not jsonschema.Draft202012Validator(schema).is_valid(json.loads(json.dumps(yaml.safe_load(wrong))))


def test_file_name_must_match_key() -> None:
    assert found(BASE, "sops/other.yaml") == [
        (
            1,
            6,
            "key 'sample' does not match the file name 'other.yaml'; rename the file to sample.yaml or set key: other",
        )
    ]
    assert found(BASE, "sops/sample.yaml") == []
    assert found(BASE, "sops/other.txt") == []


def test_bad_slug() -> None:
    text = edit("  - key: monitor", "  - key: Monitor Stage")
    assert found(text) == [
        (
            26,
            10,
            "stage key 'Monitor Stage' is not a valid slug; use 2-63 lower-case letters, "
            "digits and hyphens, starting with a letter or digit, e.g. 'verify-facts'",
        )
    ]


# --- YAML-level problems -----------------------------------------------------------------


def test_duplicate_mapping_keys_are_reported() -> None:
    text = edit("    guidance: {id: Pastikan, en: Confirm}", "    title: {id: A, en: B}")
    assert found(text) == [
        (10, 5, "missing required key 'guidance' in stage"),
        (12, 5, "duplicate key 'title' in stage (first used on line 11)"),
    ]


def test_duplicate_top_level_key() -> None:
    text = BASE + "key: sample\n"
    assert found(text) == [(33, 1, "duplicate key 'key' in playbook (first used on line 1)")]


def test_every_problem_is_reported_in_order() -> None:
    text = edit("category: hoax", "category: rumour")
    text = edit("    guidance: {id: Pastikan", "    guidence: {id: Pastikan", text)
    text = edit("notify: [supervisor@own]", "notify: [kepala@own]", text)
    text = edit("      - after: 1h", "      - after: 1 hour", text)
    text = edit("target: 1d", "target: 0d", text)
    problems = found(text)
    assert [(line, column) for line, column, _ in problems] == [
        (4, 11),
        (12, 5),
        (21, 18),
        (24, 16),
        (29, 13),
    ]
    assert problems[0][2].startswith("unknown category 'rumour'; use one of service_failure, hoax")


def test_syntax_error_is_one_problem_at_the_parser_mark() -> None:
    assert found("key: sample\ntitle: [unclosed\n") == [
        (
            3,
            1,
            "YAML syntax error: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence)",
        )
    ]
    assert found("a: b\n c: d\n") == [(2, 3, "YAML syntax error: mapping values are not allowed here")]


def test_anchors_and_aliases_are_rejected() -> None:
    text = "key: &k sample\ntitle: *k\n"
    message = "anchors (&name) and aliases (*name) are not allowed in a playbook; write the value out in full"
    assert found(text) == [(1, 6, message), (2, 8, message)]


def test_billion_laughs_is_rejected_quickly() -> None:
    lines = ['a0: &a0 ["lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)]
    problems = found("\n".join(lines))
    assert problems and all("aliases" in message for _, _, message in problems)


def test_tags_are_rejected() -> None:
    assert found("key: !!python/object:os.system sample\n") == [
        (1, 6, "tags such as !!str are not allowed in a playbook; write plain values")
    ]


def test_deep_nesting_is_rejected() -> None:
    assert found("[" * 100_000) == [(1, 51, "nesting deeper than 50 levels; a playbook needs only a few")]
    nested_block = "".join(f"{'  ' * i}k{i}:\n" for i in range(200))
    assert found(nested_block)[0][2].startswith("nesting deeper than 50 levels")


def test_input_size_is_capped() -> None:
    text = "# " + "x" * MAX_BYTES + "\n" + BASE
    assert found(text) == [(1, 1, "the file is larger than 512 KiB; a playbook is a few KiB of YAML")]


def test_special_characters_are_reported_with_position() -> None:
    assert found("key: sample\ntitle: a\x00b\n") == [(2, 9, "character U+0000 is not allowed in YAML; remove it")]


def test_empty_and_non_mapping_documents() -> None:
    assert found("") == [(1, 1, "the file is empty; a playbook starts with key: ...")]
    assert found("# only a comment\n") == [(1, 1, "the file is empty; a playbook starts with key: ...")]
    assert found("- a\n- b\n") == [
        (
            1,
            1,
            "expected a mapping at the top level with key, title, description, category, "
            "severities and stages, found a list",
        )
    ]


def test_unreadable_values_are_problems() -> None:
    text = edit("target: 1d", "target: 2024-13-45")
    assert found(text)[0][:2] == (29, 13)
    text = edit("max: 3", "max: " + "9" * 5000)
    assert found(text)[0][:2] == (22, 35)


def test_problem_str_and_validate_file(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(BASE, encoding="utf-8")
    result = validate_file(path)
    assert [str(p) for p in result.problems] == [
        f"{path}:1:6: key 'sample' does not match the file name 'other.yaml'; "
        "rename the file to sample.yaml or set key: other"
    ]
    assert Problem("a.yaml", 3, 4, "bad").__str__() == "a.yaml:3:4: bad"


def test_validate_file_binary_missing_and_bom(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"key: sample\ntitle: \xff\xfe\n")
    assert [(p.line, p.column) for p in validate_file(binary).problems] == [(2, 8)]
    assert "not UTF-8" in validate_file(binary).problems[0].message
    missing = validate_file(tmp_path / "missing.yaml")
    assert missing.problems[0].message.startswith("cannot read the file")
    bom = tmp_path / "sample.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + BASE.encode("utf-8"))
    assert validate_file(bom).problems == []


# --- never raises ------------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
_structures = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=12) | st.integers(-5, 10), children, max_size=6)
    ),
    max_leaves=30,
)
_keys = st.sampled_from(
    sorted(
        {*PLAYBOOK_KEYS, *SETTINGS_KEYS, *STAGE_KEYS, *ITEM_KEYS, *STEP_KEYS, *TEXT_KEYS} | {"default", "every", "max"}
    )
)
_shaped = st.recursive(
    _scalars | st.sampled_from(["15m", "1h", "head@own", "commander", "hoax", "x-y"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys | st.integers(1, 4), children, max_size=6),
    max_leaves=40,
)


def _check(result: ValidationResult) -> None:
    assert isinstance(result, ValidationResult)
    assert all(isinstance(p, Problem) and p.line >= 1 and p.column >= 1 for p in result.problems)
    assert (result.spec is None) == bool(result.problems)
    assert result.problems == sorted(result.problems, key=lambda p: (p.line, p.column))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    _check(validate_text(text))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_structures)
def test_arbitrary_structures_never_raise(data: object) -> None:
    _check(validate_text(yaml.safe_dump(data, allow_unicode=True)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_shaped)
def test_playbook_shaped_structures_never_raise(data: object) -> None:
    _check(validate_text(yaml.safe_dump(data, allow_unicode=True)))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_sample_never_raises(data: st.DataObject) -> None:
    lines = BASE.splitlines(keepends=True)
    index = data.draw(st.integers(0, len(lines) - 1))
    replacement = data.draw(
        st.sampled_from(["", lines[index] * 2, lines[index].replace(":", ""), "  - x\n"])
        | st.text(max_size=30).map(lambda s: s + "\n")
    )
    lines[index] = replacement
    _check(validate_text("".join(lines)))


def test_problem_list_is_capped_with_a_count_of_the_rest() -> None:
    text = BASE + "".join(f"extra-{i}: 1\n" for i in range(300))
    problems = found(text)
    assert len(problems) == 201
    assert problems[-1] == (232, 1, "100 more problems not shown")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_sample_with_flipped_characters_never_raises(data: st.DataObject) -> None:
    chars = list(BASE)
    for _ in range(data.draw(st.integers(1, 5))):
        index = data.draw(st.integers(0, len(chars) - 1))
        chars[index] = data.draw(st.sampled_from(list("-:[]{}&*!|>'\"#? \n\tak1@%,0")))
    _check(validate_text("".join(chars)))
