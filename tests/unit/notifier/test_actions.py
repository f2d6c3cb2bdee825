"""The bot's button codes are on the wire (callback data) and stored with every menu: the
Enum names them without changing one, and a code parses back to what it was made from."""

from __future__ import annotations

import pytest

from notifier.actions import NUMBERED, REASONS, Action, Pressed, parse

WIRE = {"dt", "ag", "dg", "ok", "bk", "dn", "sd", "cx", "sk", "rw", "rn", "rp", "ro"}


def test_the_codes_are_the_ones_on_the_wire() -> None:
    assert {a.code() for a in Action if a not in NUMBERED} == WIRE
    assert [Action.LINE.code(3), Action.LANGUAGE.code(0), Action.SCORE.code(5)] == [
        "l3",
        "lg0",
        "v5",
    ]
    assert {a.code(): reason for a, reason in REASONS.items()} == {
        "rw": "wrong_amount",
        "rn": "not_mine",
        "rp": "already_paid",
        "ro": "other",
    }


@pytest.mark.parametrize("action", list(Action))
def test_every_code_parses_back(action: Action) -> None:
    if action in NUMBERED:
        for number in (0, 7, 12):
            assert parse(action.code(number)) == Pressed(action, number)
        with pytest.raises(ValueError, match="takes a number"):
            action.code()
    else:
        assert parse(action.code()) == Pressed(action)
        with pytest.raises(ValueError, match="takes no number"):
            action.code(1)


@pytest.mark.parametrize("code", ["", "l", "lg", "v", "lx", "l-1", "v٣", "zz", "dt1", "AG"])
def test_anything_else_is_no_action(code: str) -> None:
    assert parse(code) is None
