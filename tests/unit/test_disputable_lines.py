"""One rule for which lines a taxpayer may dispute: for any return, the bot offers the
same lines as the cabinet, and those are exactly the lines the state machine accepts in
a disagreement (contracts/returns_v1.py ``disputable``)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from notifier import screens
from notifier.prompts import LANGUAGES, prompts
from portal.web.cabinet import lines_of
from tax.lines import LINE_CODES
from tests.unit.lifecycle.factories import at, machine, value

# Every code the engine writes, and codes it does not (yet): a new category, a bare word.
CODES = st.sampled_from([*LINE_CODES, "pension.gross", "employment", "result", "other.x"])
SOURCES = st.lists(
    st.fixed_dictionaries(
        {
            "registry": st.sampled_from(["payroll", "rental", "deduction", "dividend"]),
            "record_id": st.sampled_from(["R-1", "R-2", "R-3"]),
            "revision": st.integers(1, 3),
        }
    ),
    max_size=2,
)
LINES = st.lists(
    st.fixed_dictionaries(
        {
            "code": CODES,
            "subject": st.sampled_from(["", "200000001", "CN-1"]),
            "amount_tiyin": st.integers(0, 10**12),
            "legal_reference": st.just("Tax Code Art 381"),
            "sources": SOURCES,
        }
    ),
    max_size=8,
)


def a_return(lines: list[dict[str, Any]], balance: int) -> dict[str, Any]:
    return value(1, balance=balance, declaration_required=False, lines=lines, digest="0" * 64)


def bot_offers(payload: dict[str, Any], lang: str) -> set[int]:
    screen = screens.dispute_lines(prompts(), lang, payload, {})
    offered = {int(a[1:]) for a in screen.actions if a.startswith("l")}
    assert offered == {i for i in range(len(payload["lines"])) if screens.valid_line(payload, i)}
    return offered


def cabinet_offers(payload: dict[str, Any], lang: str) -> set[int]:
    return {line["index"] for line in lines_of(payload, lang) if line["disputable"]}


def machine_accepts(payload: dict[str, Any]) -> set[int]:
    m = machine()
    case = m.on_version(None, payload, at("2027-02-02")).case
    assert case is not None
    accepted = set()
    for index, line in enumerate(payload["lines"]):
        named = {"code": line["code"], "reason_code": "wrong_amount", "comment": ""}
        if line["subject"]:
            named["subject"] = line["subject"]
        verdict = m.judge(case, {**payload, "decision": "disagree", "lines": [named]})
        if verdict.code != "line_not_disputable":
            accepted.add(index)
    return accepted


@settings(max_examples=150, deadline=None)
@given(lines=LINES, balance=st.integers(-(10**9), 10**9), lang=st.sampled_from(LANGUAGES))
def test_bot_cabinet_and_machine_agree_on_the_disputable_lines(
    lines: list[dict[str, Any]], balance: int, lang: str
) -> None:
    payload = a_return(lines, balance)
    assert bot_offers(payload, lang) == cabinet_offers(payload, lang) == machine_accepts(payload)


def test_the_rule_offers_registry_lines_and_never_computed_ones() -> None:
    src = [{"registry": "payroll", "record_id": "P-1", "revision": 1}]
    lines = [
        {"code": c, "subject": "", "amount_tiyin": 1, "legal_reference": "", "sources": s}
        for c, s in [
            ("employment.gross", src),
            ("base.general", src),
            ("tax.general", src),
            ("exempt_use.tuition", []),  # no record: disputable, the machine asks STC review
            ("credit.withheld", src),
            ("result.payable", src),
        ]
    ]
    payload = a_return(lines, 1)
    assert bot_offers(payload, "en") == cabinet_offers(payload, "en") == {0, 3}
    assert machine_accepts(payload) == {0, 3}
