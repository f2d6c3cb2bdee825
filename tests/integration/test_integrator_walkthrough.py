"""Issue 17's "done when": the integrator guide walked end to end for one registry, once over
HTTP only (rental: curl) and once over Kafka only (payroll: kcat), against a real broker, a
real worker process and (for HTTP) the real portal: publish, a conflict refused, the
receipt read, the year closed, the registry's own dead letter read, a test dispute answered.

The commands are the guide's examples (docs/integrators.md), pointed at the test broker,
portal and topic namespace and otherwise run as written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from contracts.sandbox import is_sandbox, sandbox_pinfl
from core.clock import SystemClock
from core.kafka import credentials
from core.settings import Settings
from portal.services.api_keys import ApiKeyService
from storage.api_keys import ApiKeyRepository
from storage.database import make_engine, make_session_factory
from storage.lifecycle.repository import LifecycleRepository
from storage.migrate import upgrade
from tests.integration.test_integrator_docs import example
from tests.support.kcat import kcat_environment
from tests.support.portal import running_portal
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

RENTAL_EVENT = "rental-2026-000001-r1"


def retarget(code: str, settings: Settings, base_url: str = "") -> str:
    """The guide's broker, CA, portal and topics ► the test's."""
    code = code.replace("127.0.0.1:9092", settings.bootstrap_servers)
    if base_url:
        code = code.replace("http://127.0.0.1:8080", base_url)
    code = re.sub(r"(?<![\w/])ca\.pem", str(settings.kafka_ca_path), code)
    ns = settings.topic_namespace
    code = re.sub(r"(?<![\w.])registry\.", f"{ns}.registry.", code)
    return re.sub(r"(?<![\w.])disputes\.", f"{ns}.disputes.", code)


def run(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-c", code], check=True, env=env, capture_output=True, text=True, timeout=60
    )
    return done.stdout


def lines_of(output: str) -> list[dict[str, Any]]:
    """kcat's lines: each a JSON value, or a key, a space and a JSON value."""
    out = []
    for line in output.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append(json.loads(line.split(" ", 1)[1]))
    return out


def dispute_of(settings: Settings, dispute_id: str) -> Any:
    lifecycle = LifecycleRepository(make_session_factory(make_engine(settings.database)))
    return next((d for d in lifecycle.disputes() if d.dispute_id == dispute_id), None)


# --------------------------------------------------------------------------- over HTTP


def test_the_guide_over_http_only(pipeline_settings: Settings, tmp_path: Path) -> None:
    assert shutil.which("curl")
    settings = pipeline_settings
    upgrade(settings.database)
    keys = ApiKeyService(
        ApiKeyRepository(make_session_factory(make_engine(settings.database))), SystemClock()
    )
    sandbox_key = keys.create("rental", label="walkthrough sandbox", sandbox=True).token
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        with running_portal(settings, tmp_path / "portal.log", "walkthrough") as portal:
            env = dict(os.environ, PROACTAX_KEY=portal.tokens["rental"])
            sandbox_env = dict(os.environ, PROACTAX_KEY=sandbox_key)

            def curl(code: str, environment: dict[str, str] = env, **values: str) -> Any:
                code = retarget(code, settings, portal.base_url)
                return json.loads(run(code, {**environment, **values}))

            def receipt(event_id: str, status: str, environment: dict[str, str] = env) -> Any:
                code = example("curl-receipt").replace(RENTAL_EVENT, event_id)
                return wait_until(
                    lambda: (
                        worker.assert_alive()
                        or (lambda r: r if r.get("status") == status else None)(
                            curl(code, environment)
                        )
                    ),
                    timeout_s=90,
                    what=f"the receipt of {event_id} saying {status}",
                    describe=worker.log_tail,
                )

            # 1. publish; the receipt says accepted
            publish = example("curl-publish")
            assert curl(publish) == {"accepted": [RENTAL_EVENT], "duplicates": []}
            accepted = receipt(RENTAL_EVENT, "accepted")
            assert (accepted["record_id"], accepted["revision"]) == ("N-2026-004512-2026", 1)

            # 2. the same revision with other content: refused at once, naming the revision
            reuse = publish.replace(RENTAL_EVENT, "rental-2026-000001-again")
            refused = curl(
                reuse.replace('"monthly_rent_tiyin":500000000', '"monthly_rent_tiyin":1')
            )
            assert refused["error"] == "conflict"
            assert [e["field"] for e in refused["events"]] == ["revision"]

            # 3. another registry's event (or an unknown one) is a 404, never a leak
            other = dict(env, PROACTAX_KEY=portal.tokens["payroll"])
            code = retarget(example("curl-receipt"), settings, portal.base_url)
            code = code.replace("/rental/", "/payroll/")
            assert json.loads(run(code, other))["error"] == "unknown_event"

            # 4. the year closed, then closed again: already closed; the close's receipt
            closed = curl(example("curl-close"))
            assert (closed["status"], closed["event_id"]) == ("closed", "closed-rental-2026")
            again = curl(example("curl-close").replace("closed-rental-2026", "closed-rental-x"))
            assert again["status"] == "already_closed"
            receipt("closed-rental-2026", "accepted")

            # 5. a dead letter of its own: revision 1 of a record its old Kafka system had
            # published with other content reaches the stream; the receipt says why
            old = example("kcat-rental").replace(RENTAL_EVENT, "rental-old-000002")
            kafka_env = kcat_environment(
                tmp_path / "librdkafka",
                KAFKA_PASSWORD=credentials(settings, "registry-rental")[1],
            )
            run(retarget(old, settings), kafka_env)
            receipt("rental-old-000002", "accepted")  # old Kafka events have receipts too
            later = publish.replace(RENTAL_EVENT, "rental-2026-000099-r1")
            later = later.replace("N-2026-004512-2026", "N-2026-004513-2026")
            assert curl(later)["accepted"] == ["rental-2026-000099-r1"]
            letter = receipt("rental-2026-000099-r1", "dead_lettered")
            assert (letter["reason_code"], letter["field"]) == ("conflict", "revision")
            assert "Revision 1 of record 'N-2026-004513-2026'" in letter["reason"]

            # 6. the sandbox: a test taxpayer, an event for it, a test dispute, its answer
            real_key_refused = curl(
                example("curl-sandbox-taxpayer"), env, PROACTAX_SANDBOX_KEY=portal.tokens["rental"]
            )
            assert real_key_refused["error"] == "not_a_sandbox_key"
            made = curl(
                example("curl-sandbox-taxpayer"),
                sandbox_env,
                PROACTAX_SANDBOX_KEY=sandbox_key,
            )
            pinfl = made["pinfl"]
            assert is_sandbox(pinfl) and len(pinfl) == 14
            for_test = publish.replace("31501901230014", pinfl).replace(RENTAL_EVENT, "sbx-1")
            not_test = publish.replace(RENTAL_EVENT, "sbx-real")
            assert curl(not_test, sandbox_env)["events"][0]["field"] == "pinfl"
            assert curl(example("curl-close"), sandbox_env)["error"] == "sandbox_key"
            assert curl(for_test, sandbox_env)["accepted"] == ["sbx-1"]
            receipt("sbx-1", "accepted", sandbox_env)
            asked = wait_until(
                lambda: (
                    worker.assert_alive()
                    or (lambda a: a if "decision_id" in a else None)(
                        curl(
                            example("curl-sandbox-dispute"),
                            sandbox_env,
                            PROACTAX_SANDBOX_KEY=sandbox_key,
                            TEST_PINFL=pinfl,
                        )
                    )
                ),
                timeout_s=90,
                what="the test dispute accepted (the return computed)",
                describe=worker.log_tail,
            )
            assert "rental.income_legal_entity_tenant" in asked["lines"]
            listed = wait_until(
                lambda: curl(example("curl-disputes"), sandbox_env)["disputes"],
                timeout_s=90,
                what="the test dispute listed for the rental registry",
                describe=worker.log_tail,
            )
            assert {d["pinfl"] for d in listed} == {pinfl}
            assert {d["registry"] for d in listed} == {"rental"}
            dispute_id = listed[0]["dispute_id"]
            answered = curl(example("curl-dispute-answer"), sandbox_env, DISPUTE_ID=dispute_id)
            assert answered == {"status": "sent", "dispute_id": dispute_id}
            wait_until(
                lambda: (lambda d: d is not None and d.status == "confirmed")(
                    dispute_of(settings, dispute_id)
                ),
                timeout_s=90,
                what="the answer applied by the lifecycle",
                describe=worker.log_tail,
            )
            unknown = curl(example("curl-dispute-answer"), env, DISPUTE_ID="no-such-dispute")
            assert unknown["error"] == "unknown_dispute"
    finally:
        assert worker.stop() == 0, worker.log_tail()


# --------------------------------------------------------------------------- over Kafka


def test_the_guide_over_kafka_only(pipeline_settings: Settings, tmp_path: Path) -> None:
    assert shutil.which("kcat")
    settings = pipeline_settings
    upgrade(settings.database)
    password = credentials(settings, "registry-payroll")[1]
    env = kcat_environment(tmp_path / "librdkafka", KAFKA_PASSWORD=password)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()

    def read(name: str, **values: str) -> list[dict[str, Any]]:
        return lines_of(run(retarget(example(name), settings), {**env, **values}))

    def receipts(event_id: str, *statuses: str) -> list[dict[str, Any]]:
        def probe() -> list[dict[str, Any]] | None:
            worker.assert_alive()
            every = [r for batch in read("kcat-receipts") for r in batch["receipts"]]
            mine = [r for r in every if r["event_id"] == event_id]
            return mine if [r["status"] for r in mine] == list(statuses) else None

        return wait_until(
            probe,
            timeout_s=90,
            what=f"{event_id}'s receipts {statuses}",
            describe=worker.log_tail,
        )

    try:
        # 1. publish; its receipt (and how long it took)
        started = time.monotonic()
        run(retarget(example("kcat-publish"), settings), env)
        receipts("pay-2026-03-000123-r1", "accepted")
        print(f"publish ► receipt on Kafka: {time.monotonic() - started:.2f}s")

        # 2. revision 1 again under a new event_id with other content: a conflict, in the
        # registry's own dead letters and in the receipt, naming the revision
        conflicting = example("kcat-publish").replace("pay-2026-03-000123-r1", "pay-again")
        conflicting = conflicting.replace(
            '"gross_income_tiyin":1200000000', '"gross_income_tiyin":1'
        )
        run(retarget(conflicting, settings), env)
        [refused] = receipts("pay-again", "dead_lettered")
        assert (refused["reason_code"], refused["field"]) == ("conflict", "revision")
        letters = wait_until(
            lambda: [d for d in read("kcat-deadletters") if d["reason_code"] == "conflict"],
            timeout_s=60,
            what="the conflict in payroll's own dead letters",
        )
        assert letters[0]["field"] == "revision"
        assert letters[0]["reason"] == refused["reason"]
        assert "Revision 1 of record '200000017-000123-2026-03'" in refused["reason"]

        # 3. the correction supersedes revision 1
        run(retarget(example("kcat-correct"), settings), env)
        receipts("pay-2026-03-000123-r2", "accepted")
        receipts("pay-2026-03-000123-r1", "accepted", "superseded")

        # 4. the year closed; a second close says already closed
        run(retarget(example("kcat-close"), settings), env)
        receipts("closed-payroll-2026", "accepted")
        second = example("kcat-close").replace("closed-payroll-2026", "closed-payroll-again")
        run(retarget(second, settings), env)
        [again] = receipts("closed-payroll-again", "already_closed")
        assert "already closed" in again["reason"]

        # 5. a test dispute: events for a test taxpayer, the dispute by the sandbox command,
        # read on disputes.v1 and answered on disputes.responses.v1 with kcat
        pinfl = sandbox_pinfl(4242)
        test_event = example("kcat-publish").replace("31403850261230", pinfl)
        test_event = test_event.replace("pay-2026-03-000123-r1", "sandbox-pay-1")
        run(retarget(test_event, settings), env)
        receipts("sandbox-pay-1", "accepted")
        cli_env = {**os.environ, **settings.as_env(), "PROACTAX_KAFKA_PRINCIPAL": "portal"}

        said: list[str] = [""]

        def dispute() -> bool:
            worker.assert_alive()
            done = subprocess.run(
                [sys.executable, "-m", "proactax", "sandbox", "dispute", "--registry",
                 "payroll", "--pinfl", pinfl, "--year", "2026"],
                env=cli_env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            said[0] = done.stdout + done.stderr
            return done.returncode == 0

        wait_until(dispute, timeout_s=90, what="the test dispute", describe=lambda: said[0])
        disputes = wait_until(
            lambda: [d for d in read("kcat-disputes") if d["pinfl"] == pinfl],
            timeout_s=90,
            what="the test dispute on disputes.v1",
            describe=worker.log_tail,
        )
        dispute_id = disputes[0]["dispute_id"]
        assert disputes[0]["registry"] == "payroll"
        run(retarget(example("kcat-dispute-answer"), settings), {**env, "DISPUTE_ID": dispute_id})
        wait_until(
            lambda: (lambda d: d is not None and d.status == "confirmed")(
                dispute_of(settings, dispute_id)
            ),
            timeout_s=90,
            what="the answer applied by the lifecycle",
            describe=worker.log_tail,
        )
        # an answer to a dispute never sent: a dead letter of the payroll registry's own
        answer = example("kcat-dispute-answer")
        run(retarget(answer, settings), {**env, "DISPUTE_ID": "no-such-dispute"})
        wait_until(
            lambda: [
                d
                for d in read("kcat-deadletters")
                if d["source_topic"].endswith("disputes.responses.v1")
                and d["field"] == "dispute_id"
            ],
            timeout_s=90,
            what="the unknown answer in payroll's own dead letters",
            describe=worker.log_tail,
        )
    finally:
        assert worker.stop() == 0, worker.log_tail()
