"""The STC dashboard (staff only): the uptake funnel by day and cumulative, breakdowns by
region, channel, sex and age band, money, the disputes queue, registry feed health, the
send planner against 1 April, satisfaction; CSV export of every table; integrator API
keys for supervisors; Prometheus ``/metrics``.

Aggregates only: the one place with taxpayers in it is the disputes queue, and its PINFLs
are masked.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hmac
import io
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from contracts.redaction import mask_pinfl
from contracts.topics import REGISTRIES
from portal.services.api_keys import ApiKeyError
from portal.web import charts, disclosure
from portal.web.context import Ctx, Page
from portal.web.figures import TABLE_NAMES, YearFigures
from portal.web.security import BadRequest, NotFound, small_number
from storage.portal.dashboard import FUNNEL_STEPS, DisputeRow

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

DISPUTE_STATUSES = ("open", "unanswered", "escalated", "confirmed", "corrected", "withdrawn")
REGIONS = ("TAS_CITY", "TAS", "AND", "BUK", "FER", "JIZ", "KAS", "KHO", "NAM", "NAV", "SAM",
           "SIR", "SUR", "KAR")  # fmt: skip
PAGE_SIZE = 100


def known_year(settings: Any, text: str) -> int | None:
    """A tax year the service knows (PROACTAX_TAX_YEAR_MIN..MAX), else None: the figures
    of any other year are neither computed nor cached."""
    if len(text) == 4 and text.isascii() and text.isdigit() and int(text) in settings.tax_years:
        return int(text)
    return None


async def _figures(ctx: Ctx) -> YearFigures:
    figures = ctx.services.figures
    year_param = ctx.request.query_params.get("year", "")
    if year_param:
        year = known_year(ctx.services.settings, year_param)
        if year is None:
            raise BadRequest("year")
    else:
        year = await asyncio.to_thread(figures.default_year)
    result: YearFigures = await asyncio.to_thread(figures.for_year, year)
    return result


def _drawn(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Only shown counts go into a chart (a hidden cell is in the table as "<5")."""
    return [(label, v) for label, v in items if disclosure.is_shown(v)]


def _step_names(ctx: Ctx) -> dict[str, str]:
    return {s: ctx.t(f"staff.step.{s}") for s in FUNNEL_STEPS}


@router.get("/dashboard")
async def overview(ctx: Page) -> Response:
    ctx.require_staff()
    f = await _figures(ctx)
    names = _step_names(ctx)
    daily = f.tables["funnel_daily"]
    days = [str(d) for d in daily.column("day")]
    shown = ("computed", "delivered", "viewed", "agreed", "paid")
    return ctx.render(
        "dashboard/overview.html",
        f=f,
        names=names,
        funnel_chart=charts.bars(
            _drawn([(names[s], f.funnel[s]) for s in FUNNEL_STEPS]),
            ctx.t("staff.funnel_cumulative"),
        ),
        daily_chart=charts.lines(
            days,
            [
                (
                    names[s],
                    [v if disclosure.is_shown(v) else 0 for v in daily.column(f"{s}_cumulative")],
                )
                for s in shown
            ],
            ctx.t("staff.funnel_by_day"),
        ),
        amounts_chart=charts.bars(
            [(ctx.t(f"staff.amount.{k}"), v / 100) for k, v in f.amounts.items()],
            ctx.t("staff.amounts"),
            lambda v: ctx.fmt.number(v),
        ),
        survey_chart=charts.bars(
            [(f"{s} ★", n) for s, n in f.tables["satisfaction"].rows], ctx.t("staff.satisfaction")
        ),
    )


@router.get("/dashboard/breakdowns")
async def breakdowns(ctx: Page) -> Response:
    ctx.require_staff()
    f = await _figures(ctx)
    names = _step_names(ctx)
    chosen = ctx.request.query_params.get("step", "")
    step = chosen if chosen in FUNNEL_STEPS else "agreed"
    column = 1 + FUNNEL_STEPS.index(step)
    sections = []
    for dim in ("region", "channel", "sex", "age_band"):
        table = f.tables[f"breakdown_{dim}"]
        title = ctx.t("staff.step_by", step=names[step], dim=ctx.t(f"staff.dim.{dim}"))
        sections.append(
            {
                "dim": dim,
                "table": table,
                "chart": charts.bars(
                    _drawn([(str(row[0]), row[column]) for row in table.rows]), title
                ),
            }
        )
    return ctx.render(
        "dashboard/breakdowns.html", f=f, names=names, sections=sections, step=step,
        steps=FUNNEL_STEPS,
    )  # fmt: skip


@router.get("/dashboard/disputes")
async def disputes(ctx: Page) -> Response:
    role = _staff_role(ctx)
    q = ctx.request.query_params
    status = q.get("status", "")
    registry = q.get("registry", "")
    region = q.get("region", "")
    due = q.get("due_before", "")
    year = q.get("year", "")
    page = q.get("page", "1")
    page_no = small_number(page) or 1
    due_before = None
    if due:
        try:
            due_before = dt.date.fromisoformat(due)
        except ValueError:
            due = ""
    statuses = [status] if status in DISPUTE_STATUSES else ["open", "unanswered", "escalated"]
    if status == "all":
        statuses = list(DISPUTE_STATUSES)
    if year and known_year(ctx.services.settings, year) is None:
        raise BadRequest("year")
    rows, total = await asyncio.to_thread(
        ctx.services.dashboard.disputes,
        small_number(year),
        statuses,
        registry if registry in REGISTRIES else None,
        region if region in REGIONS else None,
        due_before,
        PAGE_SIZE,
        (page_no - 1) * PAGE_SIZE,
    )
    today = ctx.services.clock.now().date()
    return ctx.render(
        "dashboard/disputes.html",
        rows=[dict(_dispute_dict(r, role), overdue=r.dispute.respond_by < today) for r in rows],
        total=total,
        page_no=page_no,
        pages=max(1, -(-total // PAGE_SIZE)),
        statuses=DISPUTE_STATUSES,
        registries=REGISTRIES,
        regions=REGIONS,
        chosen={"status": status, "registry": registry, "region": region, "due_before": due,
                "year": year},
        query=str(ctx.request.url.query),
    )  # fmt: skip


CASE_ROLES = ("case_handler", "supervisor")  # may see individual disputes


def _staff_role(ctx: Ctx) -> str:
    ctx.require_staff()
    return ctx.session.role


def _dispute_dict(row: DisputeRow, role: str) -> dict[str, Any]:
    """A dispute as staff of ``role`` may see it: case handlers (and supervisors) the
    masked PINFL, the record and its subject; analysts none of the three."""
    case = role in CASE_ROLES
    r = row.dispute
    return {
        "dispute_id": r.dispute_id,
        "pinfl": mask_pinfl(r.pinfl) if case else "",
        "tax_year": r.tax_year,
        "version": r.version,
        "line_code": r.line_code,
        "subject": r.subject if case else "",
        "registry": r.registry,
        "record_id": r.record_id if case else "",
        "revision": r.revision,
        "reason_code": r.reason_code,
        "opened_at": r.opened_at,
        "respond_by": r.respond_by,
        "status": r.status,
        "region": row.region_code,
    }


@router.get("/dashboard/feeds")
async def feeds(ctx: Page) -> Response:
    ctx.require_staff()
    f = await _figures(ctx)
    events = f.tables["feed_events"]
    days = sorted({str(d) for d in events.column("day")})
    per: dict[str, dict[str, int]] = {}
    for day, registry, n in events.rows:
        per.setdefault(registry, {})[str(day)] = n
    chart = charts.lines(
        days,
        [(r, [per[r].get(d, 0) for d in days]) for r in sorted(per)],
        ctx.t("staff.feed_events"),
    )
    dead = f.tables["feed_deadletters"]
    by_reason: dict[str, int] = {}
    for reason, _registry, n, _rate in dead.rows:
        by_reason[reason] = by_reason.get(reason, 0) + n
    return ctx.render(
        "dashboard/feeds.html",
        f=f,
        events_chart=chart,
        dead_chart=charts.bars(sorted(by_reason.items()), ctx.t("staff.deadletters_by_reason")),
    )


@router.get("/dashboard/planner")
async def planner(ctx: Page) -> Response:
    ctx.require_staff()
    f = await _figures(ctx)
    return ctx.render("dashboard/planner.html", f=f)


@router.get("/dashboard/export/{name}.csv")
async def export(name: str, ctx: Page) -> Response:
    role = _staff_role(ctx)
    if name == "disputes":
        rows, _ = await asyncio.to_thread(
            ctx.services.dashboard.disputes, None, list(DISPUTE_STATUSES), None, None, None,
            100_000, 0,
        )  # fmt: skip
        data = [_dispute_dict(r, role) for r in rows]
        columns: tuple[str, ...] = tuple(data[0]) if data else tuple(_dispute_dict_keys())
        body = _csv(columns, [tuple(d.values()) for d in data])
        await asyncio.to_thread(
            ctx.services.exports.record, ctx.session.subject, role, name, len(data),
            str(ctx.request.url.query), ctx.services.clock.now(),
        )  # fmt: skip
        log.info("staff %s (%s) exported %d dispute rows", ctx.session.subject, role, len(data))
    else:
        if name not in TABLE_NAMES:
            raise NotFound("no such table")
        f = await _figures(ctx)
        table = f.tables[name]
        body = _csv(table.columns, table.rows)
    response = Response(body, media_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return ctx.finish(response)


def _dispute_dict_keys() -> list[str]:
    return ["dispute_id", "pinfl", "tax_year", "version", "line_code", "subject", "registry",
            "record_id", "revision", "reason_code", "opened_at", "respond_by", "status",
            "region"]  # fmt: skip


def _csv(columns: tuple[str, ...], rows: Any) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else _cell(v) for v in row])
    return out.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP "CSV injection"


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value  # no formulas in a spreadsheet (CSV injection)
    return value


# --- integrator API keys (supervisors) ------------------------------------------------------


@router.get("/staff/api-keys")
async def api_keys(ctx: Page) -> Response:
    ctx.require_staff("supervisor")
    keys = await asyncio.to_thread(ctx.services.api_keys.list)
    return ctx.render("dashboard/api_keys.html", keys=keys, issued=None, error=None,
                      registries=REGISTRIES)  # fmt: skip


@router.post("/staff/api-keys")
async def api_key_create(ctx: Page) -> Response:
    user = ctx.require_staff("supervisor")
    form = await ctx.request.form()
    registry = str(form.get("registry", ""))
    label = str(form.get("label", "")).strip()
    days = str(form.get("expires_days", "")).strip()
    service = ctx.services.api_keys
    issued, error = None, None
    try:
        expires = dt.timedelta(days=int(days)) if days else None
        issued = await asyncio.to_thread(service.create, registry, label, expires)
        log.info("staff %s created API key %s for %s", user, issued.info.key_id, registry)
    except (ApiKeyError, ValueError, OverflowError) as exc:  # 10**40 days: OverflowError
        error = str(exc)
    keys = await asyncio.to_thread(service.list)
    return ctx.render("dashboard/api_keys.html", 400 if error else 200, keys=keys,
                      issued=issued, error=error, registries=REGISTRIES)  # fmt: skip


@router.post("/staff/api-keys/{key_id}/revoke")
async def api_key_revoke(key_id: str, ctx: Page) -> Response:
    user = ctx.require_staff("supervisor")
    info = await asyncio.to_thread(ctx.services.api_keys.revoke, key_id)
    if info is None:
        raise NotFound("no such key")
    log.info("staff %s revoked API key %s", user, key_id)
    return ctx.redirect("/staff/api-keys")


# --- Prometheus -----------------------------------------------------------------------------


def metrics_text(f: YearFigures) -> str:
    year = f.tax_year
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    def sample(name: str, labels: dict[str, Any], value: float) -> None:
        text = ",".join(f'{k}="{_label(v)}"' for k, v in {"tax_year": year, **labels}.items())
        out.append(f"{name}{{{text}}} {value:g}" if isinstance(value, float) else
                   f"{name}{{{text}}} {value}")  # fmt: skip

    family("proactax_funnel_taxpayers", "gauge", "Taxpayers who reached each funnel step.")
    for step, n in f.funnel.items():
        if isinstance(n, int):  # a hidden count ("<5") is left out
            sample("proactax_funnel_taxpayers", {"step": step}, n)
    family("proactax_returns", "gauge", "Returns in the lifecycle.")
    sample("proactax_returns", {}, f.returns)
    family("proactax_breakdown_taxpayers", "gauge",
           "Taxpayers per funnel step by region, sex, age band and channel.")  # fmt: skip
    for dim in ("region", "sex", "age_band", "channel"):
        table = f.tables[f"breakdown_{dim}"]
        for row in table.rows:
            for i, step in enumerate(FUNNEL_STEPS):
                if disclosure.is_shown(row[1 + i]) and row[1 + i]:
                    sample(
                        "proactax_breakdown_taxpayers",
                        {"dimension": dim, "group": row[0], "step": step},
                        row[1 + i],
                    )
    family("proactax_amount_tiyin", "gauge", "Money in tiyin: assessed, collected, refunded.")
    for measure, n in f.amounts.items():
        sample("proactax_amount_tiyin", {"measure": measure.removesuffix("_tiyin")}, n)
    family("proactax_disputes", "gauge", "Disputes by status.")
    for status, n in f.tables["disputes_by_status"].rows:
        sample("proactax_disputes", {"status": status}, n)
    family("proactax_deliveries", "gauge", "Notice deliveries by channel and status.")
    for channel, status, n in f.tables["deliveries"].rows:
        sample("proactax_deliveries", {"channel": channel, "status": status}, n)
    family("proactax_feed_events_total", "counter", "Registry events received, per registry.")
    per: dict[str, int] = {}
    for _day, registry, n in f.tables["feed_events"].rows:
        per[registry] = per.get(registry, 0) + n
    for registry, n in sorted(per.items()):
        sample("proactax_feed_events_total", {"registry": registry}, n)
    family("proactax_feed_deadletters_total", "counter", "Dead letters by reason and registry.")
    for reason, registry, n, _rate in f.tables["feed_deadletters"].rows:
        sample("proactax_feed_deadletters_total", {"reason": reason, "registry": registry}, n)
    family("proactax_planner_backlog", "gauge", "Notices waiting to be sent.")
    sample("proactax_planner_backlog", {}, int(f.planner["total"]))
    family("proactax_planner_on_time", "gauge", "1 if every wave is projected before its deadline.")
    sample("proactax_planner_on_time", {}, 1 if f.planner["all_on_time"] else 0)
    family("proactax_survey_responses", "gauge", "Satisfaction answers by score (1-5).")
    for score, n in f.tables["satisfaction"].rows:
        sample("proactax_survey_responses", {"score": score}, n)
    family(
        "proactax_survey_answers",
        "gauge",
        "Satisfaction answers (portal and Telegram) by channel, region, sex and age band.",
    )
    for dim in ("channel", "region", "sex", "age_band"):
        for group, n in f.tables[f"satisfaction_{dim}"].rows:
            if disclosure.is_shown(n) and n:
                sample("proactax_survey_answers", {"dimension": dim, "group": group}, n)
    return "\n".join(out) + "\n"


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format, for a bearer of PROACTAX_PORTAL_METRICS_TOKEN (open only in
    development mode without a token: the portal refuses to start otherwise)."""
    web = request.app.state.web
    token = web.settings.portal_metrics_token
    if token or not web.settings.development:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if (
            not token
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(given.strip().encode(), token.encode())
        ):
            return PlainTextResponse(
                "unauthorised\n", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
    year_param = request.query_params.get("year", "")
    if year_param:
        year = known_year(web.settings, year_param)
        if year is None:
            settings = web.settings
            return PlainTextResponse(
                f"year: must be a tax year from {settings.tax_year_min} to "
                f"{settings.tax_year_max}\n",
                status_code=400,
            )
    else:
        year = await asyncio.to_thread(web.figures.default_year)
    f = await asyncio.to_thread(web.figures.for_year, year)
    return PlainTextResponse(metrics_text(f), media_type="text/plain; version=0.0.4; charset=utf-8")
