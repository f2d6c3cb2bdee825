"""storage/notifier/: the migration matches the models; tokens, menus, claims and codes
behave atomically."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session, sessionmaker

from storage.all_models import Base
from storage.database import make_engine
from storage.notifier.deliveries import QUEUED, Deliveries, NewDelivery
from storage.notifier.links import LinkTokens, TelegramLinks
from storage.notifier.menus import ButtonMenus
from storage.notifier.rate_slots import RateSlots
from storage.notifier.sign_in_codes import SignInCodes

NOW = datetime(2027, 2, 2, 5, 0, tzinfo=UTC)
PINFL = "31507900123451"


def test_the_migration_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    ours = [d for d in diffs if "notifier_" in repr(d)]
    assert ours == []


def test_a_link_token_works_once_and_not_after_expiry(sessions: sessionmaker[Session]) -> None:
    tokens = LinkTokens(sessions)
    tokens.issue("h1", PINFL, NOW, timedelta(minutes=15))
    assert tokens.consume("h1", 7, NOW) == (PINFL, "ok")
    assert tokens.consume("h1", 7, NOW) == (None, "used")
    assert tokens.consume("nope", 7, NOW) == (None, "unknown")
    tokens.issue("h2", PINFL, NOW, timedelta(minutes=15))
    assert tokens.consume("h2", 7, NOW + timedelta(minutes=16)) == (None, "expired")


def test_a_menu_is_consumed_by_its_first_press_in_its_own_chat(
    sessions: sessionmaker[Session],
) -> None:
    menus = ButtonMenus(sessions)
    menus.create("m1", 7, PINFL, "return", {"version": 1}, ["ag", "dg"], NOW, timedelta(days=1))
    assert menus.consume("m1", 8, "ag", NOW) == (None, "wrong_chat")
    assert menus.consume("m1", 7, "zz", NOW) == (None, "bad_action")
    menu, why = menus.consume("m1", 7, "ag", NOW)
    assert why == "ok" and menu is not None and menu.context == {"version": 1}
    assert menus.consume("m1", 7, "dg", NOW) == (None, "used")
    menus.create("m2", 7, PINFL, "return", {}, ["ag"], NOW, timedelta(days=1))
    assert menus.consume("m2", 7, "ag", NOW + timedelta(days=2)) == (None, "expired")


def test_linking_replaces_the_older_chat(sessions: sessionmaker[Session]) -> None:
    links = TelegramLinks(sessions)
    assert links.link(7, 7, PINFL, "deep_link", NOW) is None
    assert links.link(9, 9, PINFL, "contact", NOW) == 7
    assert links.by_chat(7) is None
    link = links.by_pinfl(PINFL)
    assert link is not None and link.chat_id == 9 and link.reachable
    assert links.unlink_chat(9) == PINFL and links.by_pinfl(PINFL) is None


def test_rate_slots_are_spaced_across_claims(sessions: sessionmaker[Session]) -> None:
    slots = RateSlots(sessions)
    first = slots.claim("telegram", 3, 30.0, 1000.0)
    second = slots.claim("telegram", 3, 30.0, 1000.0)
    assert first == 1000.0 and abs(second - 1000.1) < 1e-9
    slots.hold("telegram", 1005.0)
    assert slots.claim("telegram", 1, 30.0, 1001.0) == 1005.0
    assert slots.claim("telegram", 1, 30.0, 2000.0) == 2000.0  # idle time is not saved up


def test_sign_in_codes_are_single_use_and_attempts_are_limited(
    sessions: sessionmaker[Session],
) -> None:
    codes = SignInCodes(sessions)
    codes.issue(PINFL, "good", "telegram", NOW, timedelta(minutes=5))
    assert codes.verify(PINFL, "bad", NOW, 3) == "wrong"
    assert codes.verify(PINFL, "good", NOW, 3) == "ok"
    assert codes.verify(PINFL, "good", NOW, 3) == "none"
    codes.issue(PINFL, "good", "telegram", NOW, timedelta(minutes=5))
    assert [codes.verify(PINFL, "bad", NOW, 3) for _ in range(3)] == ["wrong", "wrong", "too_many"]
    assert codes.verify(PINFL, "good", NOW, 3) == "none"
    codes.issue(PINFL, "good", "telegram", NOW, timedelta(minutes=5))
    assert codes.verify(PINFL, "good", NOW + timedelta(minutes=6), 3) == "none"


def test_expired_menus_and_tokens_are_purged(sessions: sessionmaker[Session]) -> None:
    menus, tokens = ButtonMenus(sessions), LinkTokens(sessions)
    menus.create("old", 7, PINFL, "card", {}, ["ag"], NOW, timedelta(days=1))
    menus.create("new", 7, PINFL, "card", {}, ["ag"], NOW, timedelta(days=10))
    tokens.issue("t-old", PINFL, NOW, timedelta(minutes=15))
    assert menus.purge_expired(NOW + timedelta(days=2)) == 2
    assert menus.consume("new", 7, "ag", NOW)[1] == "ok"
    assert menus.consume("old", 7, "ag", NOW)[1] == "unknown"


def test_only_claims_of_a_gone_sender_are_recovered(sessions: sessionmaker[Session]) -> None:
    deliveries = Deliveries(sessions)
    from tests.unit.notifier.factories import notice

    new = NewDelivery(f"{PINFL}:n-1", "sms", notice(), "en", 1, QUEUED, NOW)
    deliveries.accept([new], [], NOW)
    (claimed,) = deliveries.claim("a", ["sms"], NOW, 5, timedelta(minutes=1), timedelta(0))
    deliveries.mark_sending("a", [claimed], NOW)
    stale = NOW + timedelta(minutes=3)
    assert deliveries.recover("", stale, "gone", stale - timedelta(minutes=5)) == (0, 0)
    later = NOW + timedelta(minutes=7)
    assert deliveries.recover("", later, "gone", later - timedelta(minutes=5)) == (0, 1)
    assert deliveries.all()[0].status == "technical_failure"


def test_a_message_put_back_is_not_overtaken_by_a_later_one_to_the_same_taxpayer(
    sessions: sessionmaker[Session],
) -> None:
    """A receipt deferred after a 429 goes before the survey planned with it (the e2e flow
    once saw the survey arrive first); another taxpayer's message is not held back."""
    deliveries = Deliveries(sessions)
    from tests.unit.notifier.factories import notice

    other = "41501883377276"
    receipt = NewDelivery(f"{PINFL}:receipt", "telegram", notice(), "en", 0, QUEUED, NOW, 7)
    survey = NewDelivery(f"{PINFL}:survey", "telegram", notice(), "en", 1, QUEUED, NOW, 7)
    elsewhere = NewDelivery(f"{other}:n", "telegram", notice(pinfl=other), "en", 1, QUEUED, NOW, 9)
    deliveries.accept([receipt, survey, elsewhere], [], NOW)

    def claim(at: datetime) -> list[str]:
        claimed = deliveries.claim("a", ["telegram"], at, 5, timedelta(minutes=1), timedelta(0))
        return sorted(d.dedupe_key for d in claimed)

    first = deliveries.claim("a", ["telegram"], NOW, 5, timedelta(minutes=1), timedelta(0))
    assert sorted(d.dedupe_key for d in first) == sorted([f"{other}:n", f"{PINFL}:receipt"])
    (held,) = [d for d in first if d.dedupe_key == f"{PINFL}:receipt"]
    deliveries.defer("a", [held.delivery_id], NOW + timedelta(seconds=1))  # a 429
    assert claim(NOW) == [], "the survey went before the receipt it asks about"
    assert claim(NOW + timedelta(seconds=1)) == [f"{PINFL}:receipt"]
