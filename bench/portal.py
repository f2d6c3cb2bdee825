"""The cabinet's return page under load: 100 signed-in taxpayers at once, on PostgreSQL.

Seeds a fresh PostgreSQL database (the server of PROACTAX_TEST_POSTGRES_URL, else a private
throwaway cluster) with 1,000 taxpayers' returns and lifecycle cases, signs 100 of them in
(sessions written as the portal writes them), starts the portal (uvicorn, one process; the
integrator API's Kafka producer is a no-op stand-in, the page never publishes) and has 100
concurrent clients fetch ``/cabinet/returns/2026`` (each fetch also records the view in
the lifecycle, a row-locked write) for a fixed time. Prints requests per second and the
latency percentiles. Loopback only; bounded in time.

    python bench/portal.py [--seconds 20] [--sessions 100]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import describe

YEAR = 2026
PEOPLE = 1000


class NullProducer:
    async def send(self, *args: Any, **kwargs: Any) -> Any:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def _settings(url: str, port: int) -> Any:
    from core.settings import Settings

    return dataclasses.replace(
        Settings.from_env({}),
        database_url=url,
        portal_port=port,
        portal_cookie_secure=False,
        notifier_secret="bench",
    )


def serve(url: str, port: int) -> None:
    import logging

    import uvicorn

    from portal.app import create_app

    logging.basicConfig(level=logging.WARNING)
    app = create_app(_settings(url, port), producer=NullProducer())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _value(pinfl: str, i: int) -> dict[str, Any]:
    rent = 100_000_000 + i * 1000
    tax = rent * 12 * 12 // 100
    src = [{"registry": "rental", "record_id": f"REN-{i}", "revision": 1}]

    def line(code: str, amount: int, subject: str = "") -> dict[str, Any]:
        return {"code": code, "label_key": code, "subject": subject, "amount_tiyin": amount,
                "legal_reference": "Tax Code Art 381", "sources": src}  # fmt: skip

    return {
        "return_id": f"bench-{pinfl}", "pinfl": pinfl, "tax_year": YEAR, "version": 1,
        "computed_at": "2027-02-02T09:00:00+05:00", "rules_version": "bench",
        "reproducibility_hash": f"{i:064x}", "declaration_required": True,
        "totals": {"gross_income_tiyin": rent * 12, "exempt_income_tiyin": 0,
                   "taxable_income_tiyin": rent * 12, "tax_computed_tiyin": tax,
                   "tax_credited_tiyin": 0, "balance_tiyin": tax},
        "deadlines": {"declaration": "2027-04-01", "payment": "2027-06-01"},
        "lines": [line("rental.income_individual_tenant", rent * 12, f"N-{i}"),
                  line("base.general", rent * 12), line("tax.general", tax),
                  line("result.payable", tax)],
    }  # fmt: skip


def seed(url: str, sessions_wanted: int) -> list[str]:
    """Returns, lifecycle cases and people for PEOPLE taxpayers; session tokens for some."""
    from devtools.registries_mock.pinfl import make_pinfl
    from lifecycle.config import LifecycleConfig
    from lifecycle.machine import Machine
    from portal.web.security import new_token, token_hash
    from storage.database import make_engine, make_session_factory
    from storage.lifecycle.repository import LifecycleRepository
    from storage.migrate import upgrade
    from storage.people import PeopleRepository, PersonUpdate
    from storage.portal.sessions import SessionRepository
    from storage.returns_repository import ReturnsRepository
    from tax import load_parameters

    upgrade(url)
    factory = make_session_factory(make_engine(url))
    now = dt.datetime.now(dt.UTC)
    machine = Machine(LifecycleConfig.from_settings(_settings(url, 0)).policy(load_parameters()))
    repo, returns = LifecycleRepository(factory), ReturnsRepository(factory)
    pinfls = [make_pinfl(dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 28), "MF"[i % 2], i, 1)
              for i in range(PEOPLE)]  # fmt: skip
    values = [_value(p, i) for i, p in enumerate(pinfls)]
    returns.save_versions(values, now)
    for value in values:
        repo.apply(lambda c, v=value: machine.on_version(c, v, now), return_id=value["return_id"])
    PeopleRepository(factory).apply(
        [PersonUpdate(p, 1, {"full_name": f"Person {i}", "birth_date": "1980-01-01", "sex": "M",
                             "region_code": "TAS", "phone": None, "preferred_language": "uz-Latn"})
         for i, p in enumerate(pinfls)],
        now,
    )  # fmt: skip
    store = SessionRepository(factory)
    tokens = []
    for pinfl in pinfls[:sessions_wanted]:
        token = new_token()
        store.create(token_hash(token), "taxpayer", pinfl, "", new_token(), now,
                     now + dt.timedelta(hours=2))  # fmt: skip
        tokens.append(token)
    return tokens


async def load(base: str, tokens: list[str], seconds: float) -> tuple[list[float], int]:
    import httpx

    latencies: list[float] = []
    errors = 0
    warmup_until = time.perf_counter() + 3
    stop_at = warmup_until + seconds

    async def client(token: str) -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(
            base_url=base, cookies={"proactax_session": token}, limits=limits, timeout=30
        ) as http:
            while (now := time.perf_counter()) < stop_at:
                response = await http.get(f"/cabinet/returns/{YEAR}")
                if response.status_code != 200:
                    errors += 1
                elif now >= warmup_until:
                    latencies.append(time.perf_counter() - now)

    await asyncio.gather(*(client(t) for t in tokens))
    return latencies, errors


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    from tests.support.postgres import fresh_database, postgres_server

    print(describe())
    with postgres_server() as admin, fresh_database(admin) as url:
        started = time.perf_counter()
        tokens = seed(url, args.sessions)
        print(f"seeded {PEOPLE} returns, {len(tokens)} sessions in "
              f"{time.perf_counter() - started:.1f} s (PostgreSQL)")  # fmt: skip
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", url, str(port)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            import httpx

            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the portal did not start")
                time.sleep(0.2)
            latencies, errors = asyncio.run(load(base, tokens, args.seconds))
        finally:
            server.terminate()
            server.wait(timeout=30)
    latencies.sort()
    n = len(latencies)
    if not n:
        print(f"no successful requests ({errors} errors)")
        return 1

    def pct(p: float) -> float:
        return latencies[min(n - 1, int(p * n))] * 1000

    print(
        f"return page, {len(tokens)} concurrent sessions, {args.seconds:.0f} s: "
        f"{n / args.seconds:,.0f} requests/s; latency p50 {pct(0.50):.0f} ms, "
        f"p95 {pct(0.95):.0f} ms, p99 {pct(0.99):.0f} ms, "
        f"mean {statistics.fmean(latencies) * 1000:.0f} ms; errors {errors}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
