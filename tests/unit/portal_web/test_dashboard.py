"""The dashboard through the real app: API keys for supervisors (shown once, working on the
ingest API, revoked), the disputes queue (filters, masked PINFLs), CSV exports, metrics."""

from __future__ import annotations

import csv
import dataclasses
import io
import re

from tests.unit.portal_web.conftest import (
    ALICE,
    YEAR,
    World,
    csrf_of,
    new_client,
    sign_in,
    staff_sign_in,
)


def test_a_supervisor_creates_lists_and_revokes_an_api_key(world: World) -> None:
    with new_client(world) as client:
        staff_sign_in(client, "sup")
        page = client.get("/staff/api-keys")
        r = client.post(
            "/staff/api-keys",
            data={"registry": "payroll", "label": "gateway", "csrf_token": csrf_of(page.text)},
        )
        token = re.search(r'<code class="token" id="token">([^<]+)</code>', r.text).group(1)
        key_id = token.split("_")[1]
        listing = client.get("/staff/api-keys")
        assert key_id in listing.text and token not in listing.text  # shown once
        ingest = client.post(
            "/api/v1/registries/payroll/events", json=[], headers={"X-API-Key": token}
        )
        assert ingest.status_code != 401
        client.post(f"/staff/api-keys/{key_id}/revoke", data={"csrf_token": csrf_of(listing.text)})
        refused = client.post(
            "/api/v1/registries/payroll/events", json=[], headers={"X-API-Key": token}
        )
        assert refused.status_code == 401
        bad = client.post(
            "/staff/api-keys", data={"registry": "nope", "csrf_token": csrf_of(listing.text)}
        )
        assert bad.status_code == 400


def test_the_disputes_queue_is_filtered_and_masked(world: World) -> None:
    with new_client(world) as taxpayer:
        sign_in(taxpayer, world, ALICE)
        form = taxpayer.get(f"/cabinet/returns/{YEAR}/disagree")
        taxpayer.post(
            f"/cabinet/returns/{YEAR}/disagree",
            data={"version": "1", "line_0": "on", "reason_0": "not_mine", "comment_0": "",
                  "csrf_token": csrf_of(form.text)},
        )  # fmt: skip
        world.apply_sent_decisions()
    with new_client(world) as client:
        staff_sign_in(client, "cas")  # a case handler: individual disputes, masked
        queue = client.get("/dashboard/disputes")
        assert "315********014" in queue.text and ALICE not in queue.text
        assert "LEASE-1" in queue.text
        assert "LEASE-1" not in client.get("/dashboard/disputes?registry=payroll").text
        assert "LEASE-1" not in client.get("/dashboard/disputes?region=SAM").text
        assert "LEASE-1" in client.get("/dashboard/disputes?region=TAS_CITY&status=all").text
        exported = client.get("/dashboard/export/disputes.csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [r["pinfl"] for r in rows] == ["315********014"]
        assert ALICE not in exported.text
        for name in ("funnel", "breakdown_region", "feed_events", "planner", "satisfaction"):
            r = client.get(f"/dashboard/export/{name}.csv")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert client.get("/dashboard/export/secrets.csv").status_code == 404
    with new_client(world) as client:
        staff_sign_in(client, "ana")  # an analyst: the queue without identities
        queue = client.get("/dashboard/disputes")
        assert "rental.income_individual_tenant" in queue.text and "TAS_CITY" in queue.text
        assert "315" not in queue.text and "LEASE-1" not in queue.text and "CN-1" not in queue.text
        exported = client.get("/dashboard/export/disputes.csv")
        (row,) = csv.DictReader(io.StringIO(exported.text))
        assert row["pinfl"] == row["record_id"] == row["subject"] == ""
        assert row["region"] == "TAS_CITY" and row["registry"] == "rental"
    # every export of dispute rows is in the audit log: who, which role, how many rows
    from storage.portal.staff import ExportLog

    log = ExportLog(world.sessions).recent()
    assert [(u, role, name, n) for u, role, name, n, _q, _at in log] == [
        ("ana", "analyst", "disputes", 1),
        ("cas", "case_handler", "disputes", 1),
    ]


def test_metrics_are_open_unless_a_token_is_set(world: World) -> None:
    with new_client(world) as client:
        text = client.get("/metrics").text
        assert "# TYPE proactax_funnel_taxpayers gauge" in text
        assert f'proactax_funnel_taxpayers{{tax_year="{YEAR}",step="computed"}} 2' in text
        assert ALICE not in text
    world.settings = dataclasses.replace(world.settings, portal_metrics_token="s3cret")
    with new_client(world) as client:
        assert client.get("/metrics").status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_every_dashboard_page_renders_with_figures(world: World) -> None:
    import datetime as dt

    from storage.feed_health import FeedHealthRepository, Observation

    FeedHealthRepository(world.sessions).record(
        [
            *(Observation("t.registry.payroll.v1", 0, i, dt.date(2027, 2, 1), "event", "payroll")
              for i in range(40)),
            Observation("t.registry.deadletter.v1", 0, 0, dt.date(2027, 2, 1), "deadletter",
                        "payroll", "schema", source=("t.registry.payroll.v1", 0, 7)),
            Observation("t.registry.period_closed.v1", 0, 0, dt.date(2027, 2, 1), "closure",
                        "payroll", tax_year=YEAR, closed_at="2027-01-31T23:00:00+05:00"),
        ],
        world.clock.now(),
    )  # fmt: skip
    with new_client(world) as taxpayer:
        sign_in(taxpayer, world, ALICE)
        page = taxpayer.get(f"/cabinet/returns/{YEAR}")
        taxpayer.post(
            f"/cabinet/returns/{YEAR}/agree",
            data={"version": "1", "csrf_token": csrf_of(page.text)},
        )
        world.apply_sent_decisions()
        world.settle_all()
    with new_client(world) as client:
        staff_sign_in(client, "sup")
        client.get("/lang/en")
        for route, expected in (
            ("/dashboard", "1,200,000"),
            ("/dashboard/breakdowns", "TAS_CITY"),
            ("/dashboard/feeds", "schema"),
            ("/dashboard/planner", "notices waiting"),
            ("/dashboard/disputes?status=all", "0 disputes"),
            (f"/dashboard?year={YEAR}", "<svg"),
        ):
            r = client.get(route)
            assert r.status_code == 200 and expected in r.text, route
        feeds = client.get("/dashboard/export/feed_deadletters.csv").text
        assert "schema,payroll,1,0.025" in feeds
