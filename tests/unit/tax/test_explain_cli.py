"""``proactax tax explain``: line by line with sources and references, or returns.v1 JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from proactax.commands import tax_explain

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "facts"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="proactax")
    tax_explain.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tax", "explain", *argv])
    code = args.handler(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_there_are_at_least_three_examples() -> None:
    names = {p.stem for p in EXAMPLES.glob("*.json")}
    assert {"salaried_tuition_refund", "landlord_individual_tenant", "property_seller"} <= names


def test_salaried_refund_explained_in_english(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys, "--facts", str(EXAMPLES / "salaried_tuition_refund.json"), "--year", "2026"
    )
    assert code == 0
    assert "Tuition fees (exempt use of income)" in out
    assert "18 000 000.00 so'm" in out
    assert "Refund due to you" in out and "2 160 000.00 so'm" in out
    assert "Tax Code Art 378(16)" in out
    assert "deduction/TUI-2026-000417#1" in out
    assert "Declaration deadline: 2027-04-01" in out


def test_landlord_in_russian(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        "--facts",
        str(EXAMPLES / "landlord_individual_tenant.json"),
        "--year",
        "2026",
        "--lang",
        "ru",
    )
    assert code == 0
    assert "Арендная плата от физического лица — N031877" in out
    assert "45 000 000.00 сум" in out and "Налог к уплате" in out
    assert "rental/NOT-2026-0031877#1" in out and "Tax Code Arts 375, 393" in out
    assert "Требуется декларация: да (rental_individual_tenant)" in out


@pytest.mark.parametrize(
    ("lang", "word"), [("uz-Latn", "soʻm"), ("uz-Cyrl", "сўм"), ("kaa", "swm")]
)
def test_uzbek_scripts(capsys: pytest.CaptureFixture[str], lang: str, word: str) -> None:
    code, out, _ = _run(
        capsys, "--facts", str(EXAMPLES / "property_seller.json"), "--year", "2026", "--lang", lang
    )
    assert code == 0 and f"19 200 000.00 {word}" in out
    assert "property_sale/CAD-2026-120991#2" in out  # the corrected revision


def test_json_is_the_returns_v1_value(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        "--facts",
        str(EXAMPLES / "property_seller.json"),
        "--year",
        "2026",
        "--json",
        "--computed-at",
        "2027-02-01T09:00:00+05:00",
    )
    assert code == 0
    value = json.loads(out)
    assert value["computed_at"] == "2027-02-01T09:00:00+05:00"
    assert value["version"] == 1 and value["return_id"] == "explain-30511780270031-2026"
    assert value["totals"]["balance_tiyin"] == 19_200_000_00
    assert value["declaration_required"] is True
    assert value["deadlines"] == {"declaration": "2027-04-01", "payment": "2027-06-01"}
    assert {"code", "amount_tiyin", "legal_reference", "sources"} <= set(value["lines"][0])


def test_json_without_computed_at_takes_the_time_here(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        "--facts",
        str(EXAMPLES / "landlord_individual_tenant.json"),
        "--year",
        "2026",
        "--json",
    )
    assert code == 0 and json.loads(out)["computed_at"].endswith("+05:00")


def test_a_year_without_parameters_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(
        capsys, "--facts", str(EXAMPLES / "landlord_individual_tenant.json"), "--year", "2027"
    )
    assert code == 1 and not out
    assert "cannot compute the return" in err


def test_a_bad_facts_file_is_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert _run(capsys, "--facts", str(bad), "--year", "2026")[0] == 2
    bad.write_text('{"pinfl": "31203850260019", "records": [{"registry": "payroll"}]}')
    assert _run(capsys, "--facts", str(bad), "--year", "2026")[0] == 2
    assert _run(capsys, "--facts", str(tmp_path / "missing.json"), "--year", "2026")[0] == 2


def test_money_is_formatted_exactly() -> None:
    assert tax_explain.money(123_456_789, "so'm") == "1 234 567.89 so'm"
    assert tax_explain.money(5, "so'm") == "0.05 so'm"
    assert tax_explain.money(-216_000_000, "so'm") == "-2 160 000.00 so'm"


def test_through_the_cli_shell(capsys: pytest.CaptureFixture[str]) -> None:
    from proactax.cli import main

    code = main(
        [
            "tax",
            "explain",
            "--facts",
            str(EXAMPLES / "salaried_tuition_refund.json"),
            "--year",
            "2026",
            "--lang",
            "uz-Latn",
        ]
    )
    assert code == 0 and "Qaytariladigan summa" in capsys.readouterr().out
