"""No built-in or empty secret outside development (issue 14, High): the portal, notifier,
bot and webhook receiver refuse to start and name the variable; docker-compose demands
every secret; the notifier key rotates with a window in which old and new codes work; the
SMS outbox keeps no live sign-in code and forgets it once expired."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from core.settings import (
    DEVELOPMENT_NOTIFIER_SECRET,
    EMULATOR_BOT_TOKEN,
    SERVICE_SECRETS,
    Settings,
    SettingsError,
)
from notifier import codes
from notifier.api import NotifierApi
from notifier.codes import Keyring
from notifier.ingest import Ingest
from notifier.wiring import keyring
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.notifier.sms import SmsOutbox
from tests.unit.notifier.factories import PINFL, notice
from tests.unit.notifier.harness import NOW, running_bot

REPO = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 40
GOOD = {
    "notifier_secret": GOOD_KEY,
    "telegram_bot_token": "123456:real-token",
    "telegram_webhook_secret": "webhook-secret",
}
# The command line of each service in SERVICE_SECRETS.
COMMANDS = {
    "portal": ["portal"],
    "notifier": ["notifier"],
    "bot": ["bot", "--mode", "kafka"],
    "webhook": ["bot", "webhook", "--no-register"],
}
# docker-compose service ► SERVICE_SECRETS entry.
COMPOSE_SERVICES = {
    "portal": "portal",
    "notifier": "notifier",
    "bot-worker": "bot",
    "bot-webhook": "webhook",
}


def production(tmp_path: Path, **values: str) -> Settings:
    base = Settings.from_env({"PROACTAX_RUN_DIR": str(tmp_path)})
    return dataclasses.replace(base, **values)


def test_development_is_off_unless_asked_for(tmp_path: Path) -> None:
    assert not Settings.from_env({"PROACTAX_RUN_DIR": str(tmp_path)}).development
    on = Settings.from_env({"PROACTAX_RUN_DIR": str(tmp_path), "PROACTAX_DEVELOPMENT": "1"})
    assert on.development and Settings.from_env(on.as_env()).development


@pytest.mark.parametrize("service", sorted(SERVICE_SECRETS))
@pytest.mark.parametrize(
    "name", ["notifier_secret", "telegram_bot_token", "telegram_webhook_secret"]
)
@pytest.mark.parametrize(
    "value", ["", DEVELOPMENT_NOTIFIER_SECRET, EMULATOR_BOT_TOKEN], ids=["empty", "dev", "emu"]
)
def test_a_service_refuses_an_empty_or_built_in_secret(
    tmp_path: Path, service: str, name: str, value: str
) -> None:
    settings = production(tmp_path, **{**GOOD, name: value})
    if name not in SERVICE_SECRETS[service]:
        settings.require_secrets(service)  # not a secret this service uses
        return
    with pytest.raises(SettingsError, match=f"PROACTAX_{name.upper()}"):
        settings.require_secrets(service)
    dataclasses.replace(settings, development=True).require_secrets(service)


def test_a_short_notifier_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PROACTAX_NOTIFIER_SECRET is shorter than 32"):
        production(tmp_path, **{**GOOD, "notifier_secret": "short"}).require_secrets("portal")
    production(tmp_path, **GOOD).require_secrets("portal")


def test_the_development_key_exists_only_in_development(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PROACTAX_NOTIFIER_SECRET"):
        keyring(production(tmp_path))
    development = dataclasses.replace(production(tmp_path), development=True)
    assert keyring(development).current == DEVELOPMENT_NOTIFIER_SECRET.encode()
    assert keyring(production(tmp_path, notifier_secret=GOOD_KEY)).current == GOOD_KEY.encode()


@pytest.mark.parametrize("service", sorted(COMMANDS))
def test_each_process_refuses_to_start_and_names_the_variable(tmp_path: Path, service: str) -> None:
    """The real command line, as a deployment starts it, with no secret in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROACTAX_")} | {
        "PROACTAX_RUN_DIR": str(tmp_path),
        "PROACTAX_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "proactax", *COMMANDS[service]],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    first = SERVICE_SECRETS[service][0]
    assert f"PROACTAX_{first.upper()} is empty" in done.stderr
    assert "Traceback" not in done.stderr


def test_compose_demands_every_secret() -> None:
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    required = re.compile(r"\$\{[A-Z_]+:\?[^}]+\}")
    for compose_name, service in COMPOSE_SERVICES.items():
        env = doc["services"][compose_name]["environment"]
        for name in SERVICE_SECRETS[service]:
            value = env.get(f"PROACTAX_{name.upper()}", "")
            assert required.fullmatch(value), (compose_name, name, value)
    postgres = doc["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert required.fullmatch(postgres)
    assert required.search(doc["x-proactax-env"]["PROACTAX_DATABASE_URL"])
    text = (REPO / "docker-compose.yml").read_text()
    defaults = re.findall(r"\$\{((?:[A-Z_]*(?:SECRET|TOKEN|PASSWORD)[A-Z_]*)):-", text)
    assert set(defaults) <= {"NOTIFIER_SECRET_PREVIOUS", "NOTIFIER_SECRET_PREVIOUS_UNTIL"}, defaults


def test_rotation_window_is_validated(tmp_path: Path) -> None:
    env = {"PROACTAX_RUN_DIR": str(tmp_path), "PROACTAX_NOTIFIER_SECRET_PREVIOUS": "old" * 12}
    with pytest.raises(SettingsError, match="go together"):
        Settings.from_env(env)
    with pytest.raises(SettingsError, match="RFC 3339"):
        Settings.from_env(env | {"PROACTAX_NOTIFIER_SECRET_PREVIOUS_UNTIL": "tomorrow"})
    until = "2027-03-02T00:00:00+05:00"
    settings = Settings.from_env(
        env
        | {"PROACTAX_NOTIFIER_SECRET_PREVIOUS_UNTIL": until, "PROACTAX_NOTIFIER_SECRET": GOOD_KEY}
    )
    ring = keyring(settings)
    assert ring.previous == b"old" * 12 and ring.previous_until is not None
    assert ring.accepted(ring.previous_until - timedelta(seconds=1)) == (
        ring.current,
        ring.previous,
    )
    assert ring.accepted(ring.previous_until) == (ring.current,)


async def test_codes_of_the_old_key_work_until_the_window_ends(tmp_path: Path) -> None:
    old, new = b"o" * 32, b"n" * 32
    async with running_bot(tmp_path) as h:
        before = NotifierApi(dataclasses.replace(h.parts, keys=Keyring(old)))
        assert (await before.send_sign_in_code(PINFL)).sent
        ((_, text, _),) = h.parts.sms_outbox.for_pinfl(PINFL)  # development: the live code
        (code,) = re.findall(r"\b\d{6}\b", text)

        late = NotifierApi(dataclasses.replace(h.parts, keys=Keyring(new, old, NOW)))
        assert late.verify_sign_in_code(PINFL, code) == "wrong"  # window over: old key gone
        rotated = Keyring(new, old, NOW + timedelta(days=1))
        during = NotifierApi(dataclasses.replace(h.parts, keys=rotated))
        assert during.verify_sign_in_code(PINFL, code) == "ok"

        # The bot shows a card's code made with the new key for a message the inbox stored
        # with the old one: genuine during the window only, and never for another taxpayer.
        p = h.parts
        Ingest(
            p.deliveries, p.links, p.people, p.prompts, old, "https://p", p.quiet, p.clock
        ).accept([json.dumps(notice()).encode()])
        (message,) = h.parts.inbox.list(PINFL)
        shown = codes.verification_code(new, PINFL, message.notice_id)
        assert shown != message.verification_code
        assert late.verify_message(PINFL, shown) is None
        found = during.verify_message(PINFL, shown)
        assert found is not None and found.id == message.id
        assert during.verify_message("31507900123469", shown) is None
        assert late.verify_message(PINFL, message.verification_code) is not None
        await before.aclose()
        await late.aclose()
        await during.aclose()


def test_the_sms_outbox_keeps_no_live_code_and_forgets_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sms.db'}"
    upgrade(url)
    outbox = SmsOutbox(make_session_factory(make_engine(url)))  # production: keep_codes off
    expires = NOW + timedelta(minutes=5)
    outbox.add(PINFL, "+998901234567", "Your code: 123456", NOW, code="123456", expires_at=expires)
    outbox.add(PINFL, "+998901234567", "A notice: see the portal", NOW)
    texts = [text for _, text, _ in outbox.for_pinfl(PINFL)]
    assert texts == ["Your code: ******", "A notice: see the portal"]
    assert outbox.purge_expired(expires - timedelta(seconds=1)) == 0
    assert outbox.purge_expired(expires) == 1
    assert [text for _, text, _ in outbox.for_pinfl(PINFL)] == ["A notice: see the portal"]
