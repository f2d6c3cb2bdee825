"""The satisfaction survey answered on two channels (issue 15 item 3): Telegram answers
feed the same dashboard figures as the portal's, by channel, region, sex and age band,
protected like every count of people; an answer in Telegram stops the portal asking."""

from __future__ import annotations

import csv
import dataclasses
import io

from storage.portal.surveys import SurveyRepository
from tests.unit.portal_web.conftest import (
    ALICE,
    BOB,
    YEAR,
    World,
    csrf_of,
    new_client,
    sign_in,
    staff_sign_in,
)


def exported(client: object, name: str) -> dict[str, str]:
    text = client.get(f"/dashboard/export/{name}.csv?year={YEAR}").text  # type: ignore[attr-defined]
    reader = csv.reader(io.StringIO(text))
    next(reader)
    return {row[0]: row[1] for row in reader}


def test_telegram_answers_count_in_the_dashboard_figures(world: World) -> None:
    surveys = SurveyRepository(world.sessions)
    assert surveys.answer(ALICE, YEAR, "paid", 4, "Quick", "en", world.clock.now(), "telegram")
    assert surveys.answer(BOB, YEAR, "refunded", 2, "", "ru", world.clock.now())  # portal
    assert surveys.breakdowns(YEAR) == {
        "channel": {"portal": 1, "telegram": 1},
        "region": {"SAM": 1, "TAS_CITY": 1},
        "sex": {"F": 1, "M": 1},
        "age_band": {"25-34": 1, "45-54": 1},
    }
    with new_client(world) as client:
        staff_sign_in(client, "ana")
        assert exported(client, "satisfaction_channel") == {"portal": "1", "telegram": "1"}
        assert exported(client, "satisfaction_region") == {"SAM": "1", "TAS_CITY": "1"}
        assert exported(client, "satisfaction_sex") == {"F": "1", "M": "1"}
        assert exported(client, "satisfaction_age_band") == {"25-34": "1", "45-54": "1"}
        assert exported(client, "satisfaction") == {"1": "0", "2": "1", "3": "0", "4": "1",
                                                    "5": "0"}  # fmt: skip
        metrics = client.get("/metrics").text
        assert (
            'proactax_survey_answers{tax_year="2026",dimension="channel",group="telegram"} 1'
            in metrics
        )
        page = client.get(f"/dashboard?year={YEAR}").text
        assert "satisfaction_channel.csv" in page and "telegram" in page


def test_small_counts_of_answers_are_hidden(world: World) -> None:
    world.settings = dataclasses.replace(world.settings, portal_min_cell=5)
    surveys = SurveyRepository(world.sessions)
    surveys.answer(ALICE, YEAR, "paid", 4, "", "en", world.clock.now(), "telegram")
    with new_client(world) as client:
        staff_sign_in(client, "sup")
        for dim in ("channel", "region", "sex", "age_band"):
            shown = exported(client, f"satisfaction_{dim}")
            assert shown and set(shown.values()) == {"<5"}, (dim, shown)
        assert "proactax_survey_answers{" not in client.get("/metrics").text


def test_the_portal_does_not_ask_when_telegram_was_answered(world: World) -> None:
    with new_client(world) as client:
        sign_in(client, world, ALICE)
        page = client.get(f"/cabinet/returns/{YEAR}")
        client.post(
            f"/cabinet/returns/{YEAR}/agree",
            data={"version": "1", "csrf_token": csrf_of(page.text)},
        )
        world.apply_sent_decisions()
        world.settle_all()
        assert "How was it?" in client.get(f"/cabinet/returns/{YEAR}/payment").text
        SurveyRepository(world.sessions).answer(
            ALICE, YEAR, "paid", 5, "", "en", world.clock.now(), "telegram"
        )
        payment = client.get(f"/cabinet/returns/{YEAR}/payment")
        assert "Paid." in payment.text and "How was it?" not in payment.text
        client.post(  # a form still open from before: the answer stands
            f"/cabinet/returns/{YEAR}/survey",
            data={"score": "1", "comment": "", "csrf_token": csrf_of(payment.text)},
        )
        assert SurveyRepository(world.sessions).scores(YEAR).by_score == {5: 1}
