"""``proactax apikeys`` and ``proactax portal openapi``: the command handlers."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings, get_settings
from proactax.commands import apikeys, portal


@pytest.fixture
def configured(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The commands read ``get_settings()``: point it at the test's database."""
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def run(handler: object, **values: object) -> None:
    assert handler(argparse.Namespace(**values)) in (0, None)  # type: ignore[operator]


def test_create_list_revoke(configured: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    run(apikeys.create_key, registry="payroll", label="gateway", expires_days=None)
    out = capsys.readouterr().out
    token = re.search(r"token:\s+(ptx_\S+)", out)
    key_id = re.search(r"key_id:\s+([0-9a-f]{16})", out)
    assert token and key_id and "shown only now" in out

    run(apikeys.list_keys, registry=None)
    listing = capsys.readouterr().out
    assert key_id.group(1) in listing and "active" in listing and "gateway" in listing
    assert token.group(1) not in listing

    run(apikeys.revoke_key, key_id=key_id.group(1))
    assert "revoked" in capsys.readouterr().out
    run(apikeys.list_keys, registry="payroll")
    assert "revoked" in capsys.readouterr().out
    assert apikeys.revoke_key(argparse.Namespace(key_id="0000000000000000")) == 1


def test_create_with_expiry(configured: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    run(apikeys.create_key, registry="rental", label="", expires_days=30)
    assert "expires:  never" not in capsys.readouterr().out
    assert apikeys.create_key(argparse.Namespace(registry="rental", label="", expires_days=0)) == 2


def test_the_cli_parses_the_commands() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    apikeys.add_parser(sub)
    portal.add_parser(sub)
    args = parser.parse_args(["apikeys", "create", "--registry", "payroll", "--expires-days", "9"])
    assert (args.handler, args.registry, args.expires_days) == (apikeys.create_key, "payroll", 9)
    assert parser.parse_args(["portal"]).handler is portal.serve
    assert parser.parse_args(["portal", "--port", "9000"]).port == 9000
    assert parser.parse_args(["portal", "openapi"]).handler is portal.write_openapi


def test_openapi_command_writes_the_document(tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    run(portal.write_openapi, output=target)
    assert json.loads(target.read_text())["info"]["title"] == "proactax integrator API"
