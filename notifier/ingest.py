"""``notices.v1`` ► the outbox: for every notice, the portal inbox copy (always), and a
delivery on Telegram (linked and reachable) or by SMS (otherwise, when a phone is known).

Idempotent: a notice replayed after a restart finds its rows (keyed by ``notice_id``, which
the lifecycle makes unique per return version, kind and occasion) and creates nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from contracts import inputs, records
from contracts.inputs import Unusable
from contracts.redaction import mask_pinfl
from core.clock import Clock
from notifier import codes
from notifier.prompts import Prompts, resolve
from notifier.schedule import QuietHours
from notifier.screens import SURVEY_KIND, SURVEY_TRIGGERS, survey_notice
from storage.notifier.deliveries import QUEUED, SENT, Deliveries, NewDelivery
from storage.notifier.inbox import NewInboxMessage
from storage.notifier.links import LinkRecord, TelegramLinks
from storage.people import PeopleRepository, Person
from storage.portal.surveys import SurveyRepository

log = logging.getLogger(__name__)

# Answers to the taxpayer's own action (they just paid or agreed): first in the queue and
# not held back by quiet hours. Everything else is a broadcast.
ANSWER_KINDS = frozenset({"payment_receipt", "refund_notice"})


def priority_of(kind: str) -> int:
    return 0 if kind in ANSWER_KINDS else 1


def decode(raw: bytes) -> records.Notice | None:
    """A ``notices.v1`` value, or None (logged) when it is not one."""
    try:
        return inputs.notice(raw)
    except Unusable as unusable:
        if unusable.reason_code == "not_json":
            log.error("notices.v1: a value that is not JSON was skipped")
        else:
            log.error(
                "notices.v1: an invalid notice was skipped (%s %s)",
                unusable.field,
                unusable.reason[:200],
            )
        return None


@dataclasses.dataclass
class Ingest:
    deliveries: Deliveries
    links: TelegramLinks
    people: PeopleRepository
    prompts: Prompts
    secret: bytes
    portal_url: str
    quiet: QuietHours
    clock: Clock
    sms_fallback: bool = True
    surveys: SurveyRepository | None = None  # None: no survey in Telegram

    def plan(
        self, notice: records.Notice, person: Person | None, link: LinkRecord | None
    ) -> tuple[list[NewDelivery], NewInboxMessage]:
        now = self.clock.now()
        lang = resolve(
            (link.language if link else None) or (person.preferred_language if person else None)
        )
        code = codes.verification_code(self.secret, notice["pinfl"], notice["notice_id"])
        rendered = self.prompts.notice(notice, lang, code, self.portal_url)
        key = f"{notice['pinfl']}:{notice['notice_id']}"  # unique even if ids repeat
        priority = priority_of(notice["kind"])
        due = now if priority == 0 else self.quiet.next_open(now)
        deliveries = [NewDelivery(key, "portal", notice, lang, priority, SENT, now)]
        if link is not None and link.reachable:
            deliveries.append(
                NewDelivery(key, "telegram", notice, lang, priority, QUEUED, due, link.chat_id)
            )
        elif self.sms_fallback and person is not None and person.phone:
            detail = "not linked to Telegram" if link is None else "Telegram chat unreachable"
            deliveries.append(
                NewDelivery(key, "sms", notice, lang, priority, QUEUED, due, detail=detail)
            )
        if link is not None and link.reachable and self._survey_due(notice):
            # Then the satisfaction survey, once per return (its key names the return), as
            # a broadcast: quiet hours hold it until the morning. Not in the inbox: the
            # portal asks on its own pages, and whoever answers first answers for both.
            survey = survey_notice(notice)
            deliveries.append(
                NewDelivery(
                    f"{notice['pinfl']}:{survey['notice_id']}",
                    "telegram",
                    survey,
                    lang,
                    priority_of(SURVEY_KIND),
                    QUEUED,
                    self.quiet.next_open(now),
                    link.chat_id,
                )
            )
        inbox = NewInboxMessage(
            notice["pinfl"], key, notice, lang, rendered.title, rendered.body, code
        )
        return deliveries, inbox

    def _survey_due(self, notice: records.Notice) -> bool:
        """After a receipt, unless the taxpayer already answered for this return (on the
        portal, or in the bot for an earlier receipt)."""
        return (
            notice["kind"] in SURVEY_TRIGGERS
            and self.surveys is not None
            and not self.surveys.answered(notice["pinfl"], notice["tax_year"])
        )

    def accept(self, raws: Iterable[bytes]) -> int:
        """Store a batch of raw notices; returns how many deliveries were new."""
        notices = [n for n in (decode(raw) for raw in raws) if n is not None]
        if not notices:
            return 0
        links = self.links.by_pinfls(n["pinfl"] for n in notices)
        people: dict[str, Person | None] = {}
        deliveries: list[NewDelivery] = []
        inbox: list[NewInboxMessage] = []
        for notice in notices:
            pinfl = notice["pinfl"]
            if pinfl not in people:
                people[pinfl] = self.people.get(pinfl)
            planned, message = self.plan(notice, people[pinfl], links.get(pinfl))
            deliveries.extend(planned)
            inbox.append(message)
        fresh = self.deliveries.accept(deliveries, inbox, self.clock.now())
        if fresh:
            log.info(
                "notices: %d accepted, %d new deliveries (e.g. %s)",
                len(notices),
                fresh,
                mask_pinfl(notices[0]["pinfl"]),
            )
        return fresh
