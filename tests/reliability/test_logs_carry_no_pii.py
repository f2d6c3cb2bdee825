"""No PINFLs, phone numbers or names in the logs: representative portal and ingest flows
run with every logger at DEBUG, through the product's redacting filter (as
``proactax.logs.configure_logging`` installs it), and the text is scanned.

The broker test of hostile events scans the worker's log the same way
(tests/reliability/test_hostile_broker.py).
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from portal.services.api_keys import ApiKeyService
from proactax.logs import RedactingFilter
from storage.api_keys import ApiKeyRepository
from tests.unit.portal_web.conftest import ALICE, BOB, YEAR, World, csrf_of, new_client, sign_in
from tests.unit.portal_web.test_security import _bob_with_receipt_and_message

PINFL = re.compile(r"(?<![\d.])\d{14}(?!\d)")  # not the fraction of a float
# not inside a longer number: faust logs floats such as runtime=4.9613998271524906e-05
PHONE = re.compile(r"(?<![\d.])\+?998[\s-]?\d{2}[\s-]?\d{3}[\s-]?\d{2}[\s-]?\d{2}(?!\d)")
NAMES = ("Alisher", "Karimov", "Barno", "Yusupova")


def pii_in(text: str, extra_names: tuple[str, ...] = ()) -> list[str]:
    found = [f"pinfl {m}" for m in PINFL.findall(text)]
    found += [f"phone {m}" for m in PHONE.findall(text)]
    found += [f"name {n}" for n in (*NAMES, *extra_names) if n in text]
    return found


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every record of every logger at DEBUG, formatted and filtered like production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_the_scanner_finds_what_it_looks_for() -> None:
    assert pii_in(f"x {ALICE} y") and pii_in("call +998 90 123 45 67") and pii_in("Barno")
    assert pii_in("+998901234567") and not pii_in("offset 1234567890123 of 12345678901234567")
    assert pii_in(f"taxpayer {ALICE}.") and not pii_in("runtime=4.87020006403327e-05")
    assert not pii_in("runtime=4.9613998271524906e-05")  # a phone's digits inside a float
    assert pii_in("phone 998901234567.") and pii_in("(+998-90-123-45-67)")


def test_portal_and_ingest_flows_log_no_pii(world: World, captured: io.StringIO) -> None:
    with new_client(world) as bob:  # sign in, agree to a refund, receipt, inbox
        ids = _bob_with_receipt_and_message(world, bob)
        bob.get(f"/cabinet/receipts/{ids['receipt']}?download=1")
        bob.get(f"/cabinet/inbox/{ids['message']}")
    with new_client(world) as alice:
        sign_in(alice, world, ALICE)
        page = alice.get(f"/cabinet/returns/{YEAR}/disagree")
        alice.post(
            f"/cabinet/returns/{YEAR}/disagree",
            data={"version": "1", "line_0": "on", "reason_0": "not_mine",
                  "comment_0": f"I am {ALICE}, +998901234567", "csrf_token": csrf_of(page.text)},
        )  # fmt: skip
        alice.post("/sign-in/code", data={"code": "000000", "csrf_token": "forged"})
    with new_client(world) as stranger:  # wrong codes until throttled
        page = stranger.get("/sign-in")
        r = stranger.post("/sign-in", data={"pinfl": BOB, "csrf_token": csrf_of(page.text)})
        for _ in range(12):
            stranger.post("/sign-in/code", data={"code": "000000", "csrf_token": csrf_of(r.text)})
    from tests.unit.portal.conftest import payroll_event

    token = ApiKeyService(ApiKeyRepository(world.sessions), world.clock).create("payroll").token
    with new_client(world) as integrator:
        for event in (
            payroll_event("ok-1", pinfl=ALICE),
            payroll_event("bad-1", pinfl=ALICE[:13] + "9"),
            payroll_event("bad-2", pinfl=ALICE, data={"month": 13}),
            payroll_event("ok-1", pinfl=ALICE, revision=2),  # a conflict
        ):
            integrator.post(
                "/api/v1/registries/payroll/events",
                content=json.dumps(event),
                headers={"Authorization": f"Bearer {token}"},
            )
    text = captured.getvalue()
    assert len(text.splitlines()) >= 10, text  # the flows did log
    assert pii_in(text) == [], pii_in(text)[:10]
