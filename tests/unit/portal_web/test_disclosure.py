"""Statistics that cannot name a person, and the dashboard's other issue-14 controls:
suppression with complementary cells (one function for pages, CSVs and /metrics), the
metrics token, known years only (400 naming the field), bounded caches, staff sessions
that end with a role or password change, HSTS, the CSV formula guard."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from core.settings import Settings
from core.settings_checks import portal_start_problems
from portal.web import disclosure
from portal.web.dashboard import _csv
from portal.web.security import hash_password
from storage.portal.staff import PortalStaff, StaffRepository
from tests.unit.portal_web.conftest import (
    ALICE,
    BOB,
    PASSWORD,
    YEAR,
    World,
    csrf_of,
    new_client,
    sign_in,
    staff_sign_in,
)

REPO = Path(__file__).resolve().parents[3]


# --- the suppression itself ---------------------------------------------------------------


def _range(column: list[int | str], margin: int) -> tuple[int, int]:
    """The values a hidden cell may take, to someone who knows the margin and that hidden
    cells are not 0 (zeros are shown): from 1 to what the other hidden ones leave."""
    hidden = sum(isinstance(v, str) for v in column)
    rest = margin - sum(v for v in column if isinstance(v, int))
    return 1, rest - (hidden - 1)


def test_a_small_cell_is_hidden_with_a_complement_so_the_total_does_not_give_it_away() -> None:
    rows = [("SAM", 1, 40), ("TAS", 7, 0), ("FER", 12, 3), ("AND", 0, 9)]
    out = disclosure.protect(rows, [1, 2], [20, 12], 5)
    assert [r[1] for r in out] == ["<5", "<5", 12, 0]  # 1 hidden, and 7 (the smallest other)
    assert [r[2] for r in out] == [40, 0, "<5", "<5"]  # zeros stay; 3 and 9 hidden
    # from the margin, SAM's refunded count could be anything from 1 to 7: not recovered
    assert _range([r[1] for r in out], 20) == (1, 7)


def test_a_total_below_the_threshold_hides_its_whole_column() -> None:
    assert disclosure.protect_margins({"paid": 3, "agreed": 0, "viewed": 9}, 5) == {
        "paid": "<5", "agreed": 0, "viewed": 9,
    }  # fmt: skip
    out = disclosure.protect([("SAM", 2), ("TAS", 1)], [1], ["<5"], 5)
    assert [r[1] for r in out] == ["<5", "<5"]


def test_ones_everywhere_hide_their_total_too() -> None:
    """Six regions with one person each: a shown total of 6 would say so."""
    values = [1, 1, 0, 1, 1, 1, 1]
    assert disclosure.all_ones(values) and not disclosure.all_ones([1, 0, 5])
    assert disclosure.protect_margins({"paid": 6}, 5, {"paid"}) == {"paid": "<5"}
    out = disclosure.protect([("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 2)], [1], [6], 5)
    assert [r[1] for r in out] == ["<5"] * 5  # 1+1+1+1 hidden would give each away: all


def test_no_hidden_cell_can_be_recovered_from_the_margins_random_tables() -> None:
    rng = random.Random(14)
    for _ in range(2000):
        groups = rng.randint(1, 6)
        rows = [(f"g{i}", *(rng.choice([0, 0, 1, 1, 1, 2, 3, 4, 5, 8, 30]) for _ in range(3)))
                for i in range(groups)]  # fmt: skip
        totals = [sum(r[c] for r in rows) for c in (1, 2, 3)]
        margins = [
            disclosure.protect_margins(
                {"m": t}, 5, {"m"} if disclosure.all_ones([r[c] for r in rows]) else ()
            )["m"]
            for t, c in zip(totals, (1, 2, 3), strict=True)
        ]
        out = disclosure.protect(rows, [1, 2, 3], margins, 5)
        for c, margin in zip((1, 2, 3), margins, strict=True):
            column = [r[c] for r in out]
            assert all(isinstance(v, str) or v == 0 or v >= 5 for v in column)
            if isinstance(margin, str) or not any(isinstance(v, str) for v in column):
                continue
            low, high = _range(column, margin)
            assert high - low >= 1, (rows, out, c)  # at least two values possible


# --- the same numbers in pages, CSVs and /metrics ---------------------------------------------


def test_pages_csvs_and_metrics_hide_cells_of_fewer_than_five(world: World) -> None:
    world.settings = dataclasses.replace(world.settings, portal_min_cell=5)
    with new_client(world) as taxpayer:  # Bob takes his refund: one person, in SAM
        sign_in(taxpayer, world, BOB)
        page = taxpayer.get(f"/cabinet/returns/{YEAR}")
        taxpayer.post(
            f"/cabinet/returns/{YEAR}/agree",
            data={"version": "1", "csrf_token": csrf_of(page.text)},
        )
        world.apply_sent_decisions()
        world.settle_all()
    with new_client(world) as client:
        metrics = client.get("/metrics").text
        assert 'group="SAM"' not in metrics and 'step="refunded"' not in metrics
        assert "proactax_breakdown_taxpayers{" not in metrics  # every cell is 1 or 2 here
        staff_sign_in(client, "sup")
        exported = client.get(f"/dashboard/export/breakdown_region.csv?year={YEAR}").text
        rows = {r["region"]: r for r in csv.DictReader(io.StringIO(exported))}
        assert rows["SAM"]["refunded"] == "<5" and rows["TAS_CITY"]["computed"] == "<5"
        funnel = {r["step"]: r for r in csv.DictReader(io.StringIO(
            client.get("/dashboard/export/funnel.csv").text))}  # fmt: skip
        assert funnel["computed"]["taxpayers"] == "<5"
        page = client.get("/dashboard/breakdowns?step=refunded").text
        assert "&lt;5" in page and ">1<" not in page
        daily = client.get("/dashboard/export/funnel_daily.csv").text
        assert ",1," not in daily and ",2," not in daily


# --- /metrics needs a token; the portal will not start without one ---------------------------


def test_metrics_need_the_token_outside_development(world: World) -> None:
    world.settings = dataclasses.replace(
        world.settings,
        development=False,
        notifier_secret="n" * 40,  # a real key: not the point
    )
    with new_client(world) as client:
        assert client.get("/metrics").status_code == 401  # no token set: closed, not open
    world.settings = dataclasses.replace(world.settings, portal_metrics_token="s3cret")
    with new_client(world) as client:
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": "s3cret"}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_the_portal_refuses_to_start_without_a_metrics_token() -> None:
    assert portal_start_problems(Settings.from_env({"PROACTAX_DEVELOPMENT": "1"})) == []
    assert portal_start_problems(Settings.from_env({"PROACTAX_PORTAL_METRICS_TOKEN": "x"})) == []
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROACTAX_")}
    done = subprocess.run(
        [sys.executable, "-m", "proactax", "portal", "--port", "1"],
        env={
            **env,
            "PROACTAX_RUN_DIR": str(REPO / ".run" / "unit-refuse"),
            "PROACTAX_NOTIFIER_SECRET": "n" * 40,  # every other secret is there
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 2
    assert "PROACTAX_PORTAL_METRICS_TOKEN" in done.stderr


# --- known years only, bounded caches -----------------------------------------------------------


@pytest.mark.parametrize("year", ["9" * 40, "1999", "20x6", "2031"])
def test_a_year_the_service_does_not_know_is_a_400_naming_the_field(
    world: World, year: str
) -> None:
    with new_client(world) as client:
        r = client.get(f"/metrics?year={year}")
        assert r.status_code == 400 and r.text.startswith("year:")
        staff_sign_in(client, "ana")
        for route in ("/dashboard", "/dashboard/breakdowns", "/dashboard/disputes",
                      "/dashboard/export/funnel.csv"):  # fmt: skip
            r = client.get(f"{route}?year={year}")
            assert r.status_code == 400 and "year" in r.text, route


def test_the_figures_cache_holds_a_bounded_number_of_years(world: World) -> None:
    world.settings = dataclasses.replace(
        world.settings, portal_dashboard_cache_years=2, portal_dashboard_cache_s=3600.0
    )
    with new_client(world) as client:
        for year in world.settings.tax_years:
            assert client.get(f"/metrics?year={year}").status_code == 200
        assert client.app.state.web.figures.cached_years() == [2025, 2026]  # type: ignore[attr-defined]


# --- staff sessions ------------------------------------------------------------------------------


def test_a_demoted_supervisor_loses_the_role_at_once(world: World) -> None:
    with new_client(world) as client:
        staff_sign_in(client, "sup")
        assert client.get("/staff/api-keys").status_code == 200
        with world.sessions() as session, session.begin():  # the role changes in the database
            session.execute(
                update(PortalStaff).where(PortalStaff.username == "sup").values(role="analyst")
            )
        assert client.get("/staff/api-keys").status_code == 403  # read on every request
        assert client.get("/dashboard").status_code == 200


@pytest.mark.parametrize("change", ["role", "password", "disable"])
def test_a_role_or_password_change_ends_the_accounts_sessions(world: World, change: str) -> None:
    staff = StaffRepository(world.sessions)
    with new_client(world) as client, new_client(world) as other:
        staff_sign_in(client, "sup")
        staff_sign_in(other, "ana")
        if change == "role":
            staff.upsert("sup", "analyst", staff.get("sup").password_hash, "Sup", world.clock.now())
        elif change == "password":
            staff.upsert("sup", "supervisor", hash_password("another password!", n=2**10), "Sup",
                          world.clock.now())  # fmt: skip
        else:
            staff.disable("sup", world.clock.now())
        r = client.get("/dashboard", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/sign-in")
        assert other.get("/dashboard").status_code == 200  # other accounts keep theirs
    with new_client(world) as client:  # unchanged details keep sessions
        staff_sign_in(client, "ana")
        staff.upsert("ana", "analyst", staff.get("ana").password_hash, "Ana 2", world.clock.now())
        assert client.get("/dashboard").status_code == 200
        assert PASSWORD  # (the fixture's password is unchanged for ana)


def test_a_taxpayer_named_like_a_staff_account_is_not_signed_out(world: World) -> None:
    with new_client(world) as taxpayer:
        sign_in(taxpayer, world, ALICE)
        StaffRepository(world.sessions).disable(ALICE, world.clock.now())  # no such account
        assert taxpayer.get("/cabinet").status_code == 200


# --- HSTS, CSV formulas ---------------------------------------------------------------------------


def test_hsts_when_the_portal_is_served_over_https(world: World) -> None:
    with new_client(world) as client:
        assert "strict-transport-security" not in client.get("/").headers  # local http
    world.settings = dataclasses.replace(world.settings, portal_cookie_secure=True)
    with new_client(world) as client:
        for path in ("/", "/sign-in", "/no-such-page"):
            hsts = client.get(path).headers["strict-transport-security"]
            assert hsts == "max-age=31536000; includeSubDomains"


def test_csv_cells_cannot_start_a_formula() -> None:
    text = _csv(("a",), [("=1+1",), ("\t=cmd",), ("\r=cmd",), ("-2",), ("@x",), ("plain",)])
    cells = [row[0] for row in csv.reader(io.StringIO(text))][1:]
    assert cells == ["'=1+1", "'\t=cmd", "'\r=cmd", "'-2", "'@x", "plain"]
