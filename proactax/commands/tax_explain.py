"""``proactax tax explain --facts FILE --year Y``: compute a return and explain it.

Reads a facts file (``{"pinfl": ..., "records": [{registry, record_id, revision, data}]}``,
optionally ``"events"`` with ``action`` upsert/void, folded like the ledger), runs the
real engine and prints the return line by line — label in ``--lang``, amount in soums,
legal reference, computation, sources — or, with ``--json``, the ``returns.v1`` value.
The engine reads no clock: ``computed_at`` is ``--computed-at`` or now, taken here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from core.clock import TASHKENT

LANGS = ("en", "ru", "uz-Latn", "uz-Cyrl", "kaa")


class FactsFileError(ValueError):
    """The facts file is not the documented JSON shape."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("tax", help="the tax rules engine")
    sub = parser.add_subparsers(dest="tax_command", required=True)
    explain = sub.add_parser("explain", help="compute a return from a facts file, line by line")
    explain.add_argument("--facts", required=True, type=Path, help="facts JSON file")
    explain.add_argument("--year", required=True, type=int, help="tax year")
    explain.add_argument("--lang", default="en", choices=LANGS, help="label language")
    explain.add_argument("--json", action="store_true", help="print the returns.v1 value")
    explain.add_argument("--computed-at", help="RFC 3339 time for computed_at (default: now)")
    explain.set_defaults(handler=explain_return)


def explain_return(args: argparse.Namespace) -> int:
    """Translate the arguments, compute, print; 1 for a tax error, 2 for a bad file."""
    from contracts.returns_v1 import to_returns_v1
    from tax import TaxError, compute_return, facts_from_records, load_parameters

    try:
        pinfl, records = read_facts(args.facts)
    except (OSError, FactsFileError) as exc:
        print(f"cannot read facts: {exc}", file=sys.stderr)
        return 2
    try:
        facts = facts_from_records(pinfl, args.year, records)
        tax_return = compute_return(facts, load_parameters(), args.year)
    except TaxError as exc:
        print(f"cannot compute the return: {exc}", file=sys.stderr)
        return 1
    if args.json:
        computed_at = args.computed_at or dt.datetime.now(TASHKENT).isoformat(timespec="seconds")
        value = to_returns_v1(
            tax_return, return_id=f"explain-{pinfl}-{args.year}", version=1, computed_at=computed_at
        )
        print(json.dumps(value, indent=2, ensure_ascii=False))
    else:
        print(render(tax_return, args.lang))
    return 0


def read_facts(path: Path) -> tuple[str, list[Any]]:
    """The facts file's PINFL and its active records (events folded)."""
    from tax import RecordEvent, RegistryRecord, active_records

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FactsFileError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("pinfl"), str):
        raise FactsFileError(f'{path}: expected {{"pinfl": "...", "records": [...]}}')
    try:
        records = [
            RegistryRecord(r["registry"], r["record_id"], r.get("revision", 1), r["data"])
            for r in document.get("records", [])
        ]
        events = [
            RecordEvent(e["registry"], e["record_id"], e["revision"], e["action"], e.get("data"))
            for e in document.get("events", [])
        ]
    except (KeyError, TypeError) as exc:
        raise FactsFileError(f"{path}: a record or event lacks {exc}") from exc
    return document["pinfl"], records + list(active_records(events))


def money(tiyin: int, currency: str) -> str:
    """Exact soums from integer tiyin: 123456789 -> '1 234 567.89 so'm'."""
    sign = "-" if tiyin < 0 else ""
    whole, part = divmod(abs(tiyin), 100)
    return f"{sign}{whole:,}.{part:02d}".replace(",", " ") + f" {currency}"


def render(tax_return: Any, lang: str) -> str:
    from contracts.line_labels import line_label

    def word(key: str) -> str:
        return line_label(f"ui.{key}", lang)

    cur = word("currency")
    out = [
        word("return_title").format(year=tax_return.tax_year),
        f"{word('taxpayer')}: {tax_return.pinfl}",
        "",
    ]
    width = max((len(_title(line, lang)) for line in tax_return.lines), default=0)
    for number, line in enumerate(tax_return.lines, start=1):
        title = _title(line, lang)
        out.append(f"{number:>2}. {title:<{width}}  {money(line.amount_tiyin, cur):>24}")
        out.append(f"    {word('reference')}: {line.legal_reference}")
        if line.computation:
            out.append(f"    {word('computation')}: {line.computation}")
        if line.parameters:
            used = ", ".join(f"{k} = {v}" for k, v in line.parameters.items())
            out.append(f"    {word('parameters')}: {used}")
        if line.sources:
            out.append(f"    {word('sources')}: {', '.join(str(s) for s in line.sources)}")
    t = tax_return.totals
    out += ["", word("totals")]
    for key, amount in (
        ("gross_income", t.gross_income_tiyin),
        ("exempt_income", t.exempt_income_tiyin),
        ("taxable_income", t.taxable_income_tiyin),
        ("tax_computed", t.tax_computed_tiyin),
        ("tax_credited", t.tax_credited_tiyin),
        ("balance", t.balance_tiyin),
    ):
        out.append(f"  {word(key):<40} {money(amount, cur):>24}")
    yes_no = word("yes") if tax_return.declaration_required else word("no")
    reasons = (
        f" ({', '.join(tax_return.declaration_reasons)})" if tax_return.declaration_reasons else ""
    )
    out += [
        "",
        f"{word('declaration_required')}: {yes_no}{reasons}",
        f"{word('deadline_declaration')}: {tax_return.declaration_deadline.isoformat()}",
        f"{word('deadline_payment')}: {tax_return.payment_deadline.isoformat()}",
        f"{word('rules_version')}: {tax_return.rules_version}",
        f"{word('reproducibility_hash')}: {tax_return.reproducibility_hash}",
    ]
    return "\n".join(out)


def _title(line: Any, lang: str) -> str:
    from contracts.line_labels import line_label

    label = line_label(line.label_key, lang)
    return f"{label} — {line.subject}" if line.subject else label
