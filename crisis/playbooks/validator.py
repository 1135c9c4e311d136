"""Validate a playbook YAML file and build its PlaybookSpec.

Every problem is reported with file:line:column, and the validator answers any input — broken
YAML, binary junk, anchor bombs — with problems rather than exceptions. The work is in three
layers: crisis.playbooks.yaml_source (bytes to nodes), crisis.playbooks.value_checks (typed
values) and crisis.playbooks.structure (the playbook's shape).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from crisis.i18n import N_
from crisis.playbooks.spec import PlaybookSpec
from crisis.playbooks.structure import (
    ITEM_KEYS,
    ITEM_REQUIRED,
    MAX_STAGES,
    PLAYBOOK_KEYS,
    PLAYBOOK_REQUIRED,
    SETTINGS_KEYS,
    STAGE_KEYS,
    STAGE_REQUIRED,
    STEP_KEYS,
    STEP_REQUIRED,
    PlaybookChecker,
)
from crisis.playbooks.value_checks import TEXT_KEYS
from crisis.playbooks.yaml_source import MAX_BYTES, MAX_DEPTH, Problem, read_source, too_big_message

__all__ = [
    "ITEM_KEYS",
    "ITEM_REQUIRED",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_PROBLEMS",
    "MAX_STAGES",
    "PLAYBOOK_KEYS",
    "PLAYBOOK_REQUIRED",
    "SETTINGS_KEYS",
    "STAGE_KEYS",
    "STAGE_REQUIRED",
    "STEP_KEYS",
    "STEP_REQUIRED",
    "TEXT_KEYS",
    "Problem",
    "ValidationResult",
    "validate_file",
    "validate_text",
]

MAX_PROBLEMS = 200


@dataclass
class ValidationResult:
    problems: list[Problem] = field(default_factory=list)
    spec: PlaybookSpec | None = None  # None whenever there is a problem

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_file(path: str | os.PathLike[str]) -> ValidationResult:
    """Validate one playbook file; unreadable or non-UTF-8 files are problems, not exceptions."""
    text = read_source(path)
    if isinstance(text, Problem):
        return ValidationResult(problems=[text])
    return validate_text(text, str(path))


def validate_text(text: str, filename: str = "<input>") -> ValidationResult:
    """Validate a playbook given as YAML text; report every problem, sorted by position."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return ValidationResult(problems=[Problem(filename, 1, 1, too_big_message())])
    checker = PlaybookChecker(filename)
    root = checker.parse(text)
    spec = None if root is None else checker.playbook(root)
    problems = sorted(checker.problems, key=lambda p: (p.line, p.column))
    if len(problems) > MAX_PROBLEMS:
        extra = len(problems) - MAX_PROBLEMS
        last = problems[MAX_PROBLEMS - 1]
        problems = problems[:MAX_PROBLEMS] + [
            Problem(filename, last.line, last.column, N_("%(n)d more problems not shown", n=extra))
        ]
    return ValidationResult(problems=problems, spec=None if problems else spec)
