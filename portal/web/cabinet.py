"""The taxpayer cabinet: returns by year, a return with every line and its sources, Agree /
Disagree (per line, with a reason) / Pay, refunds, version history with diffs, receipts,
the inbox, Telegram linking and the satisfaction survey.

Object-level authorisation: every route takes the PINFL from the session only, and every
read passes it to a service or query that returns only that taxpayer's objects; an id
that is not theirs is "not found" (404), exactly like an id that does not exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from contracts import records
from contracts.legal_text import render as render_reference
from contracts.line_labels import MissingLabel, line_label
from contracts.redaction import mask_pinfl
from contracts.returns_v1 import disputable
from lifecycle.services import LineChange, Refused, diff_versions
from portal.web import qr
from portal.web.context import Ctx, Page
from portal.web.security import NotFound, small_number

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

REASONS = records.DISPUTE_REASONS
MAX_COMMENT = 2000
SURVEY_STATES = {"agreed": "agreed", "paid": "paid", "refunded": "refunded"}
SETTLED_STATES = ("paid", "refunded")
WAITING_STATES = ("payment_pending", "refund_pending", "disagreed")
AWAITING_DECISION = ("computed", "notified", "viewed", "overdue", "nothing_due")


def label(key: str, lang: str) -> str:
    try:
        return line_label(key, lang)
    except MissingLabel:
        return key


def lines_of(payload: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    out = []
    for index, line in enumerate(payload.get("lines", ())):
        out.append(
            {
                "subject": "",
                "sources": [],
                "parameters": {},
                "computation": "",
                **line,
                "index": index,
                "label": label(line.get("label_key") or line["code"], lang),
                "legal_reference": render_reference(str(line.get("legal_reference") or ""), lang),
                "disputable": disputable(line["code"]),
            }
        )
    return out


def _or(number: int | None, default: int) -> int:
    return default if number is None else number


def _year(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) != 4:
        raise NotFound("no such year")
    return int(value)


async def _version(ctx: Ctx, pinfl: str, year: int, version: int | None = None) -> Any:
    """The taxpayer's return version (the latest by default), else 404."""
    web = ctx.services
    if version is None:
        row = await asyncio.to_thread(web.returns.latest, pinfl, year)
    else:
        rows = await asyncio.to_thread(web.returns.versions, pinfl, year)
        row = next((r for r in rows if r.version == version), None)
    if row is None or row.pinfl != pinfl:
        raise NotFound("no such return")
    return row


def _survey_trigger(state: str | None) -> str | None:
    return SURVEY_STATES.get(state or "")


async def _survey_due(ctx: Ctx, pinfl: str, year: int, state: str | None) -> str | None:
    trigger = _survey_trigger(state)
    if trigger is None:
        return None
    answered = await asyncio.to_thread(ctx.services.surveys.answered, pinfl, year)
    return None if trigger in answered else trigger


@router.get("/cabinet")
async def cabinet(ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    web = ctx.services
    years = await asyncio.to_thread(web.cabinet.years, pinfl)
    unread = await asyncio.to_thread(web.notifier.unread_count, pinfl)
    link = await asyncio.to_thread(web.notifier.telegram_link, pinfl)
    person = await asyncio.to_thread(web.people.get, pinfl)
    return ctx.render(
        "cabinet/index.html",
        years=years,
        unread=unread,
        linked=link is not None,
        masked=mask_pinfl(pinfl),
        name=person.full_name if person is not None and person.full_name else "",
    )


def _return_reads(web: Any, pinfl: str, tax_year: int) -> tuple[Any, ...]:
    """Everything the return page reads, in one trip off the event loop."""
    row = web.returns.latest(pinfl, tax_year)
    if row is None or row.pinfl != pinfl:
        raise NotFound("no such return")
    seen = (pinfl, tax_year, row.version)
    status = None
    if seen in web.views_recorded:  # recorded before: a read is enough
        status = web.lifecycle.status(pinfl, tax_year)
    else:
        try:
            status = web.lifecycle.record_view(pinfl, tax_year, row.version, "portal")
            web.views_recorded.add(seen)
        except Refused:  # the lifecycle has not picked this version up yet
            status = web.lifecycle.status(pinfl, tax_year)
    receipts = web.lifecycle.receipts(pinfl, tax_year)
    disputes = [d for d in web.lifecycle.disputes(pinfl, tax_year) if d.version == row.version]
    state = status.state if status is not None else None
    trigger = _survey_trigger(state)
    survey = None
    if trigger is not None and trigger not in web.surveys.answered(pinfl, tax_year):
        survey = trigger
    return row, status, receipts, disputes, survey


@router.get("/cabinet/returns/{year}")
async def return_page(year: str, ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    tax_year = _year(year)
    row, status, receipts, disputes, survey = await asyncio.to_thread(
        _return_reads, ctx.services, pinfl, tax_year
    )
    state = status.state if status is not None else None
    return ctx.render(
        "cabinet/return.html",
        year=tax_year,
        ret=row.payload,
        version=row.version,
        lines=lines_of(row.payload, ctx.lang),
        status=status,
        state=state,
        receipts=receipts,
        disputes=disputes,
        survey=survey,
        can_decide=status is not None
        and status.version == row.version
        and state not in (*SETTLED_STATES, *WAITING_STATES, "review"),
        can_pay=status is not None
        and status.payable_now_tiyin > 0
        and not status.payment_in_progress
        and state in ("agreed", "disputed", "review", "overdue", *AWAITING_DECISION),
        masked=mask_pinfl(pinfl),
    )


@router.get("/cabinet/returns/{year}/lines/{index}")
async def line_page(year: str, index: int, ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    tax_year = _year(year)
    version_param = ctx.request.query_params.get("version", "")
    version = small_number(version_param)
    row = await _version(ctx, pinfl, tax_year, version)
    lines = lines_of(row.payload, ctx.lang)
    if not 0 <= index < len(lines):
        raise NotFound("no such line")
    return ctx.render(
        "cabinet/line.html", year=tax_year, version=row.version, line=lines[index], reasons=REASONS
    )


@router.post("/cabinet/returns/{year}/agree")
async def agree(year: str, ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    tax_year = _year(year)
    form = await ctx.request.form()
    version = str(form.get("version", ""))
    row = await _version(ctx, pinfl, tax_year, _or(small_number(version), -1))
    try:
        receipt = await ctx.services.lifecycle.submit_decision(
            pinfl, tax_year, row.version, "agree", "portal"
        )
    except Refused as refused:
        return _refused(ctx, tax_year, refused)
    return ctx.redirect(_decision_url(ctx, tax_year, receipt.decision_id))


@router.get("/cabinet/returns/{year}/disagree")
async def disagree_form(year: str, ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    tax_year = _year(year)
    row = await _version(ctx, pinfl, tax_year)
    chosen = ctx.request.query_params.get("line", "")
    return ctx.render(
        "cabinet/disagree.html",
        year=tax_year,
        version=row.version,
        lines=[line for line in lines_of(row.payload, ctx.lang) if line["disputable"]],
        reasons=REASONS,
        chosen=chosen,
        error=None,
    )


@router.post("/cabinet/returns/{year}/disagree")
async def disagree(year: str, ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    tax_year = _year(year)
    form = await ctx.request.form()
    version = str(form.get("version", ""))
    row = await _version(ctx, pinfl, tax_year, _or(small_number(version), -1))
    lines = [line for line in lines_of(row.payload, ctx.lang) if line["disputable"]]
    picked = []
    for line in lines:
        i = line["index"]
        if form.get(f"line_{i}") != "on":
            continue
        reason = str(form.get(f"reason_{i}", ""))
        comment = str(form.get(f"comment_{i}", "")).strip()[:MAX_COMMENT]
        if reason not in REASONS:
            reason = "other"
        item = {"code": line["code"], "reason_code": reason, "comment": comment}
        if line.get("subject"):
            item["subject"] = line["subject"]
        picked.append(item)
    if not picked:
        return ctx.render(
            "cabinet/disagree.html",
            400,
            year=tax_year,
            version=row.version,
            lines=lines,
            reasons=REASONS,
            chosen="",
            error=ctx.t("disagree.none_picked"),
        )
    try:
        receipt = await ctx.services.lifecycle.submit_decision(
            pinfl, tax_year, row.version, "disagree", "portal", lines=picked
        )
    except Refused as refused:
        return _refused(ctx, tax_year, refused)
    return ctx.redirect(_decision_url(ctx, tax_year, receipt.decision_id))


@router.post("/cabinet/returns/{year}/pay")
async def pay(year: str, ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    tax_year = _year(year)
    await _version(ctx, pinfl, tax_year)
    try:
        await asyncio.to_thread(ctx.services.lifecycle.request_payment, pinfl, tax_year, "portal")
    except Refused as refused:
        return _refused(ctx, tax_year, refused)
    return ctx.redirect(f"/cabinet/returns/{tax_year}/payment")


def _refused(ctx: Ctx, year: int, refused: Refused) -> Response:
    key = f"refused.{refused.code}"
    message = ctx.t(key) if ctx.t.has(key) else ctx.t("refused.other")
    return ctx.render("cabinet/refused.html", 409, year=year, message=message)


def _decision_url(ctx: Ctx, year: int, decision_id: str) -> str:
    return f"/cabinet/returns/{year}/decisions/{decision_id}?s={_sign(ctx, decision_id)}"


def _sign(ctx: Ctx, decision_id: str) -> str:
    """Ties a pending decision's page to the session that submitted it."""
    key = ctx.session.csrf_token.encode()
    return hmac.new(key, decision_id.encode(), hashlib.sha256).hexdigest()[:32]


@router.get("/cabinet/returns/{year}/decisions/{decision_id}")
async def decision_page(year: str, decision_id: str, ctx: Page) -> Response:
    """The outcome of a decision this session submitted (refreshes while it is applied)."""
    pinfl = ctx.require_taxpayer()
    tax_year = _year(year)
    await _version(ctx, pinfl, tax_year)
    if not hmac.compare_digest(
        ctx.request.query_params.get("s", "").encode(), _sign(ctx, decision_id).encode()
    ):
        raise NotFound("no such decision")
    web = ctx.services
    result = await asyncio.to_thread(web.lifecycle.decision_result, pinfl, decision_id)
    if result is None:
        return ctx.render(
            "cabinet/waiting.html", year=tax_year, refresh=_decision_url(ctx, tax_year, decision_id)
        )
    if result.outcome == "refused":
        return _refused(ctx, tax_year, Refused(result.reason_code, result.reason))
    return ctx.redirect(f"/cabinet/returns/{tax_year}/payment")


@router.get("/cabinet/returns/{year}/payment")
async def payment_page(year: str, ctx: Page) -> Response:
    """Where the money stands after a decision: in progress (refreshes), paid, refunded."""
    pinfl = ctx.require_taxpayer()
    tax_year = _year(year)
    await _version(ctx, pinfl, tax_year)
    web = ctx.services
    status = await asyncio.to_thread(web.lifecycle.status, pinfl, tax_year)
    if status is None:
        raise NotFound("no such return")
    receipts = await asyncio.to_thread(web.lifecycle.receipts, pinfl, tax_year)
    latest = receipts[-1] if receipts else None
    return ctx.render(
        "cabinet/payment.html",
        year=tax_year,
        status=status,
        receipt=latest,
        moving=status.payment_in_progress,
        survey=await _survey_due(ctx, pinfl, tax_year, status.state),
    )


@router.get("/cabinet/returns/{year}/history")
async def history(year: str, ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    tax_year = _year(year)
    web = ctx.services
    rows = await asyncio.to_thread(web.returns.versions, pinfl, tax_year)
    rows = [r for r in rows if r.pinfl == pinfl]
    if not rows:
        raise NotFound("no such return")
    versions = []
    previous = None
    for row in rows:
        changes: list[LineChange] = (
            diff_versions(previous.payload, row.payload) if previous is not None else []
        )
        versions.append(
            {
                "version": row.version,
                "computed_at": row.computed_at,
                "balance_tiyin": row.balance_tiyin,
                "hash": row.reproducibility_hash,
                "changes": [
                    {
                        "label": label(_label_key(row.payload, previous, c.code), ctx.lang),
                        "subject": c.subject,
                        "before": c.before_tiyin,
                        "after": c.after_tiyin,
                        "because": c.because,
                    }
                    for c in changes
                ],
            }
        )
        previous = row
    audit = await asyncio.to_thread(web.lifecycle.audit_log, pinfl, tax_year)
    return ctx.render(
        "cabinet/history.html", year=tax_year, versions=list(reversed(versions)), audit=audit
    )


def _label_key(payload: dict[str, Any], previous: Any, code: str) -> str:
    for source in (payload, previous.payload if previous is not None else {}):
        for line in source.get("lines", ()):
            if line["code"] == code:
                return str(line.get("label_key") or code)
    return code


@router.get("/cabinet/receipts/{receipt_id}")
async def receipt_page(receipt_id: str, ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    web = ctx.services
    receipt = await asyncio.to_thread(web.lifecycle.receipt, pinfl, receipt_id)
    if receipt is None:
        raise NotFound("no such receipt")
    person = await asyncio.to_thread(web.people.get, pinfl)
    response = ctx.render(
        "cabinet/receipt.html",
        receipt=receipt,
        masked=mask_pinfl(pinfl),
        pinfl=pinfl,
        name=person.full_name if person is not None and person.full_name else "",
    )
    if ctx.request.query_params.get("download") == "1":
        response.headers["Content-Disposition"] = (
            f'attachment; filename="receipt-{receipt.receipt_id}.html"'
        )
    return response


@router.post("/cabinet/returns/{year}/survey")
async def survey(year: str, ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    tax_year = _year(year)
    await _version(ctx, pinfl, tax_year)
    web = ctx.services
    form = await ctx.request.form()
    score = str(form.get("score", ""))
    status = await asyncio.to_thread(web.lifecycle.status, pinfl, tax_year)
    trigger = _survey_trigger(status.state if status is not None else None)
    if trigger is None:
        raise NotFound("no survey for this return now")
    if score not in ("1", "2", "3", "4", "5"):
        return ctx.render("cabinet/survey_done.html", 400, year=tax_year, ok=False)
    comment = str(form.get("comment", "")).strip()[:MAX_COMMENT]
    await asyncio.to_thread(
        web.surveys.answer, pinfl, tax_year, trigger, int(score), comment, ctx.lang,
        web.clock.now(),
    )  # fmt: skip
    return ctx.render("cabinet/survey_done.html", year=tax_year, ok=True)


@router.get("/cabinet/inbox")
async def inbox(ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    messages = await asyncio.to_thread(ctx.services.notifier.inbox, pinfl, 100, 0)
    return ctx.render("cabinet/inbox.html", messages=messages, verified=None, checked=False)


@router.get("/cabinet/inbox/{message_id}")
async def inbox_message(message_id: int, ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    web = ctx.services
    if not 0 <= message_id < 2**63:  # beyond any row id (and the database's integers)
        raise NotFound("no such message")
    message = await asyncio.to_thread(web.notifier.inbox_message, pinfl, message_id)
    if message is None:
        raise NotFound("no such message")
    await asyncio.to_thread(web.notifier.mark_read, pinfl, message_id)
    return ctx.render("cabinet/message.html", message=message)


@router.post("/cabinet/inbox/verify")
async def verify_message(ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    form = await ctx.request.form()
    code = str(form.get("code", ""))[:32]
    found = await asyncio.to_thread(ctx.services.notifier.verify_message, pinfl, code)
    messages = await asyncio.to_thread(ctx.services.notifier.inbox, pinfl, 100, 0)
    return ctx.render("cabinet/inbox.html", messages=messages, verified=found, checked=True)


@router.get("/cabinet/telegram")
async def telegram(ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    link = await asyncio.to_thread(ctx.services.notifier.telegram_link, pinfl)
    return ctx.render("cabinet/telegram.html", link=link, token=None, qr_svg=None)


@router.post("/cabinet/telegram/link")
async def telegram_link(ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    web = ctx.services
    token = await asyncio.to_thread(web.notifier.issue_link_token, pinfl)
    link = await asyncio.to_thread(web.notifier.telegram_link, pinfl)
    return ctx.render(
        "cabinet/telegram.html",
        link=link,
        token=token,
        qr_svg=qr.svg(token.telegram_url, ctx.t("telegram.qr_title")),
    )


@router.post("/cabinet/telegram/unlink")
async def telegram_unlink(ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    await asyncio.to_thread(ctx.services.notifier.unlink, pinfl)
    return ctx.redirect("/cabinet/telegram")
