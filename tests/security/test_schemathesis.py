"""schemathesis against the OpenAPI document the app serves, in-process (WSGI, no server).

Pass 1: every operation, with schema-valid and schema-violating requests, signed in with real
tokens of demo users (the central admin, the central head, a regency officer); path parameters
point at real rows of a regency's records as often as at generated numbers. No 5xx, and every
response conforms to the document: documented status, content type, body schema.

Pass 2: a regency's officer, head and admin against the ids of the sibling regency's records:
every answer is 403 or 404.

Both passes are reproducible (derandomized Hypothesis, fixed records, frozen clock) and bounded
(a fixed number of examples per operation); they count the requests they send.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from tests.conftest import FIXED_NOW
from tests.security import world

pytestmark = pytest.mark.schemathesis

NOW = FIXED_NOW + timedelta(hours=1)
POSITIVE_EXAMPLES = 9
NEGATIVE_EXAMPLES = 7
SIBLING_EXAMPLES = 4
MIN_REQUESTS = 1000
# Operations addressed by something no regency owns: the SOP library and the dashboard's table names.
NOT_REGENCY_OWNED = ("/api/v1/playbooks/{key}", "/api/v1/evaluation/{table}.csv")

CONFIG = """
[generation]
with-security-parameters = false
allow-x00 = {allow_x00}

[checks.positive_data_acceptance]
# Valid by the document yet refused by a rule the document cannot state (a date in the future, a
# commander outside the unit, a state that does not allow it) is 422 naming the field.
expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""


@pytest.fixture
def frozen_clock(clock):
    clock.now = NOW


def _schema(app, *, allow_x00: bool) -> Any:
    config = schemathesis.Config.from_str(CONFIG.format(allow_x00=str(allow_x00).lower()))
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


def _operations(schema: Any) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60
    return operations


def _path_names(operation: Any) -> list[str]:
    return [p.name for p in operation.path_parameters]


def _fixed_paths(operation: Any, pools: dict[str, list[Any]], limit: int = 6) -> list[dict[str, Any]]:
    names = _path_names(operation)
    if not names or any(not pools.get(name) for name in names):
        return []
    combos = itertools.product(*(pools[name] for name in names))
    return [dict(zip(names, combo, strict=True)) for combo in itertools.islice(combos, limit)]


class Runner:
    """Sends generated cases through the app, one app context (and database session) per request
    as in production, and keeps what went wrong instead of stopping at the first problem."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests = 0
        self.statuses: Counter[int] = Counter()
        self.problems: list[str] = []

    def send(self, case: Any, headers: dict[str, str]) -> Any:
        self.requests += 1
        try:
            with self.app.app_context():
                response = case.call(headers=headers)
        except Exception as error:  # TESTING propagates what would have been a 500
            self.statuses[500] += 1
            self.problems.append(f"{case.operation.label}: 500 {error!r}\n{case.as_curl_command(headers=headers)}")
            return None
        self.statuses[response.status_code] += 1
        return response

    def validate(self, case: Any, response: Any, headers: dict[str, str]) -> None:
        if response is None:
            return
        try:
            with self.app.app_context():
                case.validate_response(response, headers=headers)
        except FailureGroup as group:
            self.problems.append(f"{case.operation.label}: {group}")

    def run(self, operation: Any, strategy: Any, examples: int, each: Callable[[Any, Any], None]) -> None:
        @hypothesis.settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            verbosity=hypothesis.Verbosity.quiet,
        )
        @given(case=strategy, data=st.data())
        def generated(case: Any, data: Any) -> None:
            each(case, data)

        with contextlib.suppress(hypothesis.errors.Unsatisfiable):  # nothing to vary (e.g. no input to negate)
            generated()


def test_generated_requests_get_no_5xx_and_conform_to_the_document(app, db, org, token_for, frozen_clock):
    admin = org["users"][("JATENG", "admin")]
    ids = world.build(db.session, org, "KOTA-SEMARANG", admin=admin, now=FIXED_NOW)
    db.session.commit()
    actors = [token_for("admin", "PUSAT"), token_for("head", "PUSAT"), token_for("officer", "KOTA-SEMARANG")]
    # Rows the actors themselves stand on stay out of the pools: a generated request may disable
    # a user or revoke a token, and the run would go on unauthenticated.
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    ids["user_id"] = [i for i in ids["user_id"] if i != officer.id]
    ids["membership_id"] = [i for i in ids["membership_id"] if i not in {m.id for m in officer.memberships}]
    ids["unit_id"] = [*ids["unit_id"], org["units"]["JATENG"].id, org["units"]["KAB-BANYUMAS"].id]
    ids["key"] = ["hoax-clarification", "disaster-public-information"]
    ids["number"] = [1]
    ids["table"] = ["headline", "stages", "kpi"]

    schema = _schema(app, allow_x00=True)
    runner = Runner(app)
    started = time.monotonic()

    def each(case: Any, data: Any) -> None:
        headers = data.draw(st.sampled_from(actors), label="actor")
        runner.validate(case, runner.send(case, headers), headers)

    for operation in _operations(schema):
        fixed = _fixed_paths(operation, ids)
        positive = [operation.as_strategy(GenerationMode.POSITIVE, path_parameters=p) for p in fixed]
        positive.append(operation.as_strategy(GenerationMode.POSITIVE))
        runner.run(operation, st.one_of(*positive), POSITIVE_EXAMPLES, each)
        runner.run(operation, operation.as_strategy(GenerationMode.NEGATIVE), NEGATIVE_EXAMPLES, each)

    elapsed = time.monotonic() - started
    print(
        f"schemathesis pass 1: {runner.requests} requests in {elapsed:.1f} s; statuses {sorted(runner.statuses.items())}"
    )
    assert not [code for code in runner.statuses if code >= 500], "\n\n".join(
        p for p in runner.problems if " 500 " in p
    )
    assert runner.problems == [], "\n\n".join(runner.problems[:20])
    assert runner.requests >= MIN_REQUESTS
    # The run reached past the front door: real rows were read and changed.
    assert sum(n for code, n in runner.statuses.items() if 200 <= code < 300) >= 150


def test_a_regencys_tokens_get_403_or_404_for_every_id_of_the_sibling_regency(app, db, org, token_for, frozen_clock):
    from crisis.auth import service as people

    jateng_admin = org["users"][("JATENG", "admin")]
    sibling = world.build(db.session, org, "KAB-BANYUMAS", admin=jateng_admin, now=FIXED_NOW)
    city_admin = people.create_user(
        session=db.session,
        actor=jateng_admin,
        email="admin.kota-semarang@demo.example",
        name="Admin Kota Semarang",
        password="Kata-sandi-panjang-2026",
        unit_id=org["units"]["KOTA-SEMARANG"].id,
        role="admin",
    )
    _row, plaintext = people.create_token(session=db.session, user=city_admin, name="test")
    db.session.commit()
    actors = [
        token_for("officer", "KOTA-SEMARANG"),
        token_for("head", "KOTA-SEMARANG"),
        {"Authorization": f"Bearer {plaintext}"},
    ]

    schema = _schema(app, allow_x00=False)
    runner = Runner(app)
    answered: Counter[str] = Counter()
    leaks: list[str] = []
    started = time.monotonic()

    def each(case: Any, data: Any) -> None:
        headers = data.draw(st.sampled_from(actors), label="actor")
        response = runner.send(case, headers)
        answered[case.operation.label] += 1
        if response is None or response.status_code not in (403, 404):
            leaks.append(
                f"{case.operation.label} {case.path_parameters} -> "
                f"{response.status_code if response is not None else 500}: "
                f"{response.text[:300] if response is not None else runner.problems[-1]}"
            )

    checked = 0
    for operation in _operations(schema):
        if not _path_names(operation) or operation.path.startswith(NOT_REGENCY_OWNED):
            continue
        fixed = _fixed_paths(operation, sibling)
        assert fixed, f"no sibling records for {operation.label}"
        strategy = st.one_of(*[operation.as_strategy(GenerationMode.POSITIVE, path_parameters=p) for p in fixed])
        runner.run(operation, strategy, SIBLING_EXAMPLES, each)
        checked += 1

    elapsed = time.monotonic() - started
    print(
        f"schemathesis pass 2: {runner.requests} requests over {checked} operations in {elapsed:.1f} s; "
        f"statuses {sorted(runner.statuses.items())}"
    )
    assert leaks == [], "\n".join(leaks[:30])
    assert checked >= 45
    assert all(answered[op.label] >= 1 for op in _operations(schema) if op.label in answered)
    assert runner.requests >= checked * 2
