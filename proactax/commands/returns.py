"""``proactax returns show PINFL --year Y``: print a taxpayer's current return from the database."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("returns", help="read projected returns")
    sub = parser.add_subparsers(dest="returns_command", required=True)
    show = sub.add_parser("show", help="show a taxpayer's current return")
    show.add_argument("pinfl")
    show.add_argument("--year", type=int, required=True)
    show.add_argument("--json", action="store_true", help="print the returns.v1 value")
    show.add_argument("--all-versions", action="store_true")
    show.set_defaults(handler=show_return)


def show_return(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from storage.database import make_engine, make_session_factory
    from storage.migrate import upgrade
    from storage.returns_repository import ReturnsRepository

    settings = get_settings()
    upgrade(settings.database)
    repository = ReturnsRepository(make_session_factory(make_engine(settings.database)))
    versions = repository.versions(args.pinfl, args.year)
    if not versions:
        print(f"No return for that PINFL in {args.year}.")
        return 1
    shown = versions if args.all_versions else versions[-1:]
    for row in shown:
        if args.json:
            print(json.dumps(row.payload, indent=2, ensure_ascii=False))
        else:
            print(format_return(row.payload, total_versions=len(versions)))
    return 0


def soums(tiyin: int) -> str:
    """Exact formatting of integer tiyin: 123456789 -> '1 234 567.89'."""
    sign = "-" if tiyin < 0 else ""
    whole, part = divmod(abs(tiyin), 100)
    return f"{sign}{whole:,}.{part:02d}".replace(",", " ")


def format_return(value: dict[str, Any], total_versions: int) -> str:
    totals = value["totals"]
    balance = totals["balance_tiyin"]
    outcome = "to pay" if balance > 0 else "refund due" if balance < 0 else "nothing due"
    lines = [
        f"Return {value['return_id']}  PINFL {value['pinfl']}  tax year {value['tax_year']}",
        f"version {value['version']} of {total_versions}, computed {value['computed_at']}, "
        f"rules {value['rules_version']}",
        f"declaration required: {'yes' if value['declaration_required'] else 'no'}; "
        f"declare by {value['deadlines']['declaration']}, pay by {value['deadlines']['payment']}",
        "",
    ]
    for line in value["lines"]:
        sources = ", ".join(
            f"{s['registry']}/{s['record_id']}@r{s['revision']}" for s in line["sources"]
        )
        lines.append(f"  {line['code']:<32} {soums(line['amount_tiyin']):>20} so'm")
        lines.append(f"      {line['legal_reference']}")
        if sources:
            lines.append(f"      sources: {sources}")
    lines += [
        "",
        f"  {'gross income':<32} {soums(totals['gross_income_tiyin']):>20} so'm",
        f"  {'exempt income':<32} {soums(totals['exempt_income_tiyin']):>20} so'm",
        f"  {'taxable income':<32} {soums(totals['taxable_income_tiyin']):>20} so'm",
        f"  {'tax computed':<32} {soums(totals['tax_computed_tiyin']):>20} so'm",
        f"  {'tax credited (withheld + INPS)':<32} {soums(totals['tax_credited_tiyin']):>20} so'm",
        f"  {'balance (' + outcome + ')':<32} {soums(abs(balance)):>20} so'm",
        f"  reproducibility hash {value['reproducibility_hash']}",
    ]
    return "\n".join(lines)
