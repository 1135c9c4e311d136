"""The playbook spec: durations, selectors, canonical form, content hash, YAML export, wording."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from crisis.playbooks.spec import (
    EscalationStepSpec,
    PlaybookSpec,
    RepeatSpec,
    RoleSelector,
    Text,
    WorkingDays,
    describe_step,
    format_duration,
    format_duration_words,
    parse_duration,
    parse_selector,
    to_yaml,
)
from crisis.playbooks.validator import validate_file, validate_text

SOPS = Path(__file__).resolve().parents[2] / "sops"
LIBRARY = sorted(SOPS.glob("*.yaml"))

SAMPLE = """\
key: sample
title: {id: Contoh, en: Sample}
description: {id: Contoh, en: Sample}
category: other
severities: [1, 2, 3, 4]
settings:
  update_every: {default: 24h, 4: 6h}
stages:
  - key: acknowledge
    title: {id: Terima, en: Acknowledge}
    guidance: {id: Pastikan, en: Confirm}
    target: {default: 1h, 3: 30m, 4: 15m}
    checklist:
      - key: verify-sources
        text: {id: Cek sumber, en: Check sources}
    escalation:
      - after: 15m
        notify: [supervisor@own]
        repeat: {every: 15m, max: 3}
        until: acknowledged
"""

# The same playbook written differently: block style, comments, quotes, other duration spellings,
# defaults written out, keys in another order.
SAMPLE_REFORMATTED = """\
# A comment the hash must not see.
key: "sample"
category: other
title:
  en: Sample
  id: Contoh
description: {en: 'Sample', id: "Contoh"}
severities: [4, 3, 2, 1]
settings:
  review_due: 168h
  update_every:
    4: 360m
    default: 1d
stages:
  - title: {id: Terima, en: Acknowledge}
    key: acknowledge
    guidance: {id: Pastikan, en: Confirm}
    target:
      4: 15m
      default: 60m
      3: 30m
    checklist:
      - key: verify-sources   # trailing comment
        text: {id: Cek sumber, en: Check sources}
        required: true
        owner: officer
        evidence: false
    escalation:
      - notify: [supervisor@own]
        after: 15m
        until: acknowledged
        repeat: {max: 3, every: 15m}
"""


def spec_of(text: str) -> PlaybookSpec:
    result = validate_text(text)
    assert [str(p) for p in result.problems] == []
    assert result.spec is not None
    return result.spec


# --- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("15m", 15),
        ("1h", 60),
        ("3d", 3 * 1440),
        ("1h30m", 90),
        ("2d12h", 2 * 1440 + 720),
        ("90m", 90),
        ("72h", 72 * 60),
        ("365d", 365 * 1440),
        ("1d0h5m", 1445),
    ],
)
def test_parse_duration(text: str, minutes: int) -> None:
    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "15 min",
            "duration '15 min' does not parse; write a number and a unit, e.g. 15m, 1h, 3d or 1h30m",
        ),
        ("1h 30m", "duration '1h 30m' does not parse"),
        ("30m1h", "duration '30m1h' does not parse"),
        ("", "duration '' does not parse"),
        ("15M", "duration '15M' does not parse"),
        ("1.5h", "duration '1.5h' does not parse"),
        ("15m\n", "duration '15m\n' does not parse"),
        ("١٥m", "duration '١٥m' does not parse"),  # Arabic-Indic digits are not ASCII digits
        ("0m", "duration '0m' must be more than zero"),
        ("0d0h", "duration '0d0h' must be more than zero"),
        ("-15m", "duration '-15m' must be more than zero"),
        ("366d", "duration '366d' is longer than the 365-day limit"),
        ("365d1m", "duration '365d1m' is longer than the 365-day limit"),
        ("9" * 5000 + "m", "is longer than the 365-day limit"),
    ],
)
def test_parse_duration_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert message in str(info.value)


def test_parse_duration_rejects_a_plain_number() -> None:
    with pytest.raises(ValueError, match=r"write a unit: 15m, 1h or 3d"):
        parse_duration(15)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("minutes", "text", "en", "id_"),
    [
        (15, "15m", "15 minutes", "15 menit"),
        (1, "1m", "1 minute", "1 menit"),
        (60, "1h", "1 hour", "1 jam"),
        (90, "1h30m", "1 hour 30 minutes", "1 jam 30 menit"),
        (1440, "1d", "1 day", "1 hari"),
        (3 * 1440, "3d", "3 days", "3 hari"),
        (2 * 1440 + 12 * 60, "2d12h", "2 days 12 hours", "2 hari 12 jam"),
        (1441, "1d1m", "1 day 1 minute", "1 hari 1 menit"),
        (0, "0m", "0 minutes", "0 menit"),
    ],
)
def test_format_duration(minutes: int, text: str, en: str, id_: str) -> None:
    td = timedelta(minutes=minutes)
    assert format_duration(td) == text
    assert format_duration_words(td, "en") == en
    assert format_duration_words(td, "id") == id_


def test_format_duration_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError):
        format_duration(timedelta(seconds=90))
    with pytest.raises(ValueError):
        format_duration(timedelta(minutes=-5))
    with pytest.raises(ValueError):
        format_duration_words(timedelta(minutes=5), "fr")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_duration_raises_only_value_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except ValueError:
        return
    assert timedelta(minutes=1) <= value <= timedelta(days=365)
    assert parse_duration(format_duration(value)) == value


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"\A([0-9]{1,4}d)?([0-9]{1,5}h)?([0-9]{1,7}m)?\Z"))
def test_parse_duration_on_well_formed_strings(text: str) -> None:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        assert "zero" in str(exc) or "365-day" in str(exc) or text == ""
        return
    assert parse_duration(format_duration(value)) == value


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=365 * 1440))
def test_format_then_parse_round_trips(minutes: int) -> None:
    td = timedelta(minutes=minutes)
    assert parse_duration(format_duration(td)) == td


# --- role selectors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "role", "scope", "code"),
    [
        ("supervisor@own", "supervisor", "own", None),
        ("head@parent", "head", "parent", None),
        ("head@province", "head", "province", None),
        ("on_duty@central", "on_duty", "central", None),
        ("commander", "commander", "own", None),
        ("commander@province", "commander", "province", None),
        ("head@JATENG", "head", "JATENG", "JATENG"),
        ("officer@KAB-SEMARANG", "officer", "KAB-SEMARANG", "KAB-SEMARANG"),
        ("officer@PUSAT", "officer", "PUSAT", "PUSAT"),
    ],
)
def test_parse_selector(text: str, role: str, scope: str, code: str | None) -> None:
    selector = parse_selector(text)
    assert selector == RoleSelector(role, scope)
    assert selector.unit_code == code


@pytest.mark.parametrize(
    "text",
    ["kepala@own", "head@provinsi", "head", "head@", "@own", "head@J", "Head@own", "head@own@x"],
)
def test_parse_selector_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_selector(text)


# --- canonical form and hash -------------------------------------------------------------


def test_canonical_fills_defaults_and_fixes_order() -> None:
    canonical = spec_of(SAMPLE).to_canonical()
    assert list(canonical) == [
        "key",
        "title",
        "description",
        "category",
        "severities",
        "settings",
        "stages",
    ]
    assert canonical["settings"] == {
        "update_every": {"default": "1d", "4": "6h"},
        "review_due": "7d",
    }
    stage = canonical["stages"][0]
    assert list(stage) == ["key", "title", "guidance", "target", "checklist", "escalation"]
    assert stage["target"] == {"default": "1h", "3": "30m", "4": "15m"}
    assert stage["checklist"] == [
        {
            "key": "verify-sources",
            "text": {"id": "Cek sumber", "en": "Check sources"},
            "required": True,
            "owner": "officer",
            "evidence": False,
        }
    ]
    assert stage["escalation"] == [
        {
            "after": "15m",
            "notify": ["supervisor@own"],
            "repeat": {"every": "15m", "max": 3},
            "until": "acknowledged",
        }
    ]
    assert json.loads(json.dumps(canonical)) == canonical


def test_hash_ignores_formatting_comments_and_spelling() -> None:
    assert spec_of(SAMPLE).content_hash() == spec_of(SAMPLE_REFORMATTED).content_hash()
    bare = SAMPLE.replace("update_every: {default: 24h, 4: 6h}", "update_every: {default: 24h}")
    plain = SAMPLE.replace("update_every: {default: 24h, 4: 6h}", "update_every: 1d")
    assert spec_of(bare).content_hash() == spec_of(plain).content_hash()


def test_hash_changes_when_a_target_changes() -> None:
    changed = SAMPLE.replace("3: 30m, 4: 15m", "3: 30m, 4: 20m")
    assert spec_of(SAMPLE).content_hash() != spec_of(changed).content_hash()
    text = SAMPLE.replace("Check sources", "Check the sources")
    assert spec_of(SAMPLE).content_hash() != spec_of(text).content_hash()
    longer_review = SAMPLE.replace("  update_every:", "  review_due: 14d\n  update_every:")
    spec = spec_of(longer_review)
    assert spec.to_canonical()["settings"]["review_due"] == "14d"
    assert spec_of(SAMPLE).content_hash() != spec.content_hash()


def test_hash_is_sha256_of_the_documented_json() -> None:
    spec = spec_of(SAMPLE)
    text = json.dumps(spec.to_canonical(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert spec.content_hash() == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_target_and_update_every_per_severity() -> None:
    spec = spec_of(SAMPLE)
    stage = spec.stages[0]
    minutes = [stage.target_for(s) // timedelta(minutes=1) for s in (1, 2, 3, 4)]
    assert minutes == [60, 60, 30, 15]
    assert spec.settings.update_every_for(2) == timedelta(hours=24)
    assert spec.settings.update_every_for(4) == timedelta(hours=6)


# --- YAML export and canonical JSON round trips ------------------------------------------


def test_to_yaml_round_trip_of_the_sample() -> None:
    spec = spec_of(SAMPLE)
    text = to_yaml(spec)
    assert text.startswith("# yaml-language-server: $schema=./schema.json\n")
    assert "severities: [1, 2, 3, 4]\n" in text
    assert "    target:\n      default: 1h\n      3: 30m\n      4: 15m\n" in text
    again = spec_of(text)
    assert again == spec
    assert again.content_hash() == spec.content_hash()


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_library_round_trips(path: Path, tmp_path: Path) -> None:
    spec = validate_file(path).spec
    assert spec is not None
    exported = tmp_path / path.name
    exported.write_text(to_yaml(spec), encoding="utf-8")
    again = validate_file(exported).spec
    assert again is not None and again.content_hash() == spec.content_hash()
    stored = json.loads(json.dumps(spec.to_canonical(), ensure_ascii=False))
    rebuilt = PlaybookSpec.from_canonical(stored)
    assert rebuilt == spec and rebuilt.content_hash() == spec.content_hash()
    schema = json.loads((SOPS / "schema.json").read_text(encoding="utf-8"))
    data = json.loads(json.dumps(yaml.safe_load(exported.read_text(encoding="utf-8"))))
    jsonschema.Draft202012Validator(schema).validate(data)


def test_multiline_text_survives_export() -> None:
    text = SAMPLE.replace(
        "guidance: {id: Pastikan, en: Confirm}",
        'guidance: {id: "Baris satu\\nbaris dua\\n", en: "Line one\\n  indented: yes"}',
    )
    spec = spec_of(text)
    again = spec_of(to_yaml(spec))
    assert again.stages[0].guidance == spec.stages[0].guidance
    assert again.content_hash() == spec.content_hash()


# --- the library says what the domain says -----------------------------------------------


def _library(key: str) -> PlaybookSpec:
    spec = validate_file(SOPS / f"{key}.yaml").spec
    assert spec is not None
    return spec


def test_data_leak_has_the_three_times_24_hour_notice() -> None:
    spec = _library("data-leak-cyber")
    notice = [s for s in spec.stages if s.target_for(4) == timedelta(hours=72)]
    assert len(notice) == 1
    keys = {item.key for item in notice[0].checklist if item.required}
    assert {"notify-data-subjects", "notify-supervising-agency"} <= keys


def test_lapor_counts_working_days_from_receipt_by_complaint_class() -> None:
    spec = _library("public-complaint-lapor")
    targets = {stage.key: {s: stage.target_for(s) for s in spec.severities} for stage in spec.stages}
    assert set(targets["first-response"].values()) == {WorkingDays(3)}
    assert targets["resolve"] == {1: WorkingDays(5), 2: WorkingDays(14), 3: WorkingDays(60)}
    assert {s.key: s.measured_from for s in spec.stages if s.key != "close"} == {
        "first-response": "issue_first_seen",
        "resolve": "issue_first_seen",
    }


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_library_cadences_and_holding_statements(path: Path) -> None:
    spec = validate_file(path).spec
    assert spec is not None
    assert spec.settings.review_due == timedelta(days=7)
    if spec.category != "public_complaint":  # complaints run on days, not hours
        assert spec.settings.update_every_for(spec.severities[0]) <= timedelta(hours=24)
    for stage in spec.stages:
        if stage.key == "holding-statement" and 4 in spec.severities:
            assert stage.target_for(4) < stage.target_for(spec.severities[0])
            assert stage.target_for(4) <= timedelta(hours=1)


# --- plain-language escalation steps -----------------------------------------------------


def test_describe_step_in_both_languages() -> None:
    step = EscalationStepSpec(
        after=timedelta(minutes=30),
        notify=(parse_selector("supervisor@own"),),
        repeat=RepeatSpec(every=timedelta(minutes=15), max=3),
        until="acknowledged",
    )
    assert describe_step(step, "en") == (
        "If this stage is not complete 30 minutes after it starts, notify the supervisor of the "
        "own unit; repeat every 15 minutes, at most 3 times, until someone acknowledges."
    )
    assert describe_step(step, "id") == (
        "Jika tahap ini belum selesai 30 menit setelah dimulai, beri tahu supervisor unit "
        "sendiri; ulangi setiap 15 menit, paling banyak 3 kali, sampai ada yang mengonfirmasi."
    )


def test_describe_step_several_selectors_no_repeat() -> None:
    step = EscalationStepSpec(
        after=timedelta(hours=1, minutes=30),
        notify=tuple(map(parse_selector, ["head@own", "head@province", "on_duty@central"])),
    )
    assert describe_step(step, "en") == (
        "If this stage is not complete 1 hour 30 minutes after it starts, notify the head of the "
        "own unit, the head of the province and the officer on duty of the national desk "
        "(central)."
    )
    assert describe_step(step, "id") == (
        "Jika tahap ini belum selesai 1 jam 30 menit setelah dimulai, beri tahu kepala unit "
        "sendiri, kepala provinsi dan petugas piket pusat (desk nasional)."
    )


def test_describe_step_commander_unit_code_and_stage_complete() -> None:
    step = EscalationStepSpec(
        after=timedelta(days=2),
        notify=(parse_selector("commander"), parse_selector("head@JATENG")),
        repeat=RepeatSpec(every=timedelta(days=1), max=1),
    )
    assert describe_step(step, "en") == (
        "If this stage is not complete 2 days after it starts, notify the incident commander and "
        "the head of unit JATENG; repeat every 1 day, at most once, until the stage is complete."
    )
    assert describe_step(step, "id") == (
        "Jika tahap ini belum selesai 2 hari setelah dimulai, beri tahu komandan insiden dan "
        "kepala unit JATENG; ulangi setiap 1 hari, paling banyak 1 kali, sampai tahap selesai."
    )
    with pytest.raises(ValueError):
        describe_step(step, "fr")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1).filter(str.strip))
def test_any_text_survives_export(text: str) -> None:
    spec = spec_of(SAMPLE)
    stage = replace(spec.stages[0], guidance=Text(id=text, en=text * 3))
    changed = replace(spec, stages=(stage,))
    again = validate_text(to_yaml(changed)).spec
    assert again == changed
