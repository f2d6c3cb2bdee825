"""``proactax mock season``: arguments, refusals before anything is published, progress."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from proactax.cli import build_parser, main
from proactax.commands.mock import ProgressBar


def test_season_arguments_and_defaults() -> None:
    args = build_parser().parse_args(["mock", "season", "--taxpayers", "5000", "--faults"])
    assert (args.taxpayers, args.year, args.rate, args.via, args.faults) == (
        5000,
        2026,
        0,
        "kafka",
        True,
    )
    assert not args.no_close and args.oracle is None
    http = build_parser().parse_args(
        ["mock", "season", "--via", "http", "--portal-url", "http://x", "--rate", "500"]
    )
    assert (http.via, http.portal_url, http.rate) == ("http", "http://x", 500)
    old = build_parser().parse_args(["mock", "publish", "--people", "20"])
    assert old.people == 20


def test_http_needs_a_key_for_every_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.json"
    assert main(["mock", "season", "--via", "http", "--api-keys-file", str(missing)]) == 2
    assert "no API keys file" in capsys.readouterr().out
    partial = tmp_path / "keys.json"
    partial.write_text(json.dumps({"payroll": "k"}))
    assert main(["mock", "season", "--via", "http", "--api-keys-file", str(partial)]) == 2
    assert "has no key for: population" in capsys.readouterr().out


def test_a_year_the_service_refuses_is_refused_up_front(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["mock", "season", "--year", "2019", "--taxpayers", "3"]) == 2
    assert "accepts tax years" in capsys.readouterr().out


def test_the_progress_bar_writes_a_line_per_tenth_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar(1000, stream)
    for done in range(0, 1001, 50):
        bar(done)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11
    assert lines[-1].startswith("  [" + "#" * 40 + "] 1,000/1,000 events")
