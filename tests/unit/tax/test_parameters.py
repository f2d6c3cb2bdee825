"""Law parameters: every value cited and marked, dated lookups, clear errors."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
import yaml

from tax import MissingParameter, ParameterFileError, load_parameters, parse_parameter_files
from tax.parameters import CONFIDENCE, packaged_parameter_files
from tax.parameters.year import CONSTANT_IN_YEAR, DATED_IN_YEAR, ParameterChangesMidYear

D = dt.date


def test_every_value_has_a_reference_and_a_confidence_mark() -> None:
    params = load_parameters()
    assert params.parameters
    for parameter in params.parameters.values():
        assert parameter.description
        for value in parameter.values:
            assert value.confidence in CONFIDENCE, (parameter.name, value.start)
            assert value.reference.article.strip(), (parameter.name, value.start)
            assert value.reference.source.strip(), (parameter.name, value.start)


def test_every_raw_yaml_value_is_cited_directly_or_by_its_parameter() -> None:
    """The same check on the files themselves, independent of the loader."""
    for name, text in packaged_parameter_files().items():
        for pname, node in yaml.safe_load(text).items():
            for start, entry in node["values"].items():
                assert (entry.get("confidence") or node.get("confidence")) in CONFIDENCE, (
                    name,
                    pname,
                    start,
                )
                reference = entry.get("reference") or node.get("reference")
                assert reference and reference.get("article") and reference.get("source"), (
                    name,
                    pname,
                    start,
                )


@pytest.mark.parametrize("year", [2023, 2024, 2025, 2026])
def test_tax_years_2023_to_2026_are_covered(year: int) -> None:
    law = load_parameters().for_year(year)
    assert law.value("pit.rate.general") == Fraction(12, 100)
    assert law.value("pit.rate.dividend") == Fraction(5, 100)


@pytest.mark.parametrize("year", [2019, 2022, 2027])
def test_an_uncovered_year_is_a_clear_error(year: int) -> None:
    with pytest.raises(MissingParameter):
        load_parameters().for_year(year)


def test_deadline_calendars_exist_for_the_years_after_2023_to_2026() -> None:
    params = load_parameters()
    for year in (2024, 2025, 2026, 2027):
        assert params.at("calendar.non_working_days", D(year, 6, 1)).value
    with pytest.raises(MissingParameter):
        params.at("calendar.non_working_days", D(2028, 1, 1))


def test_lookup_by_date() -> None:
    params = load_parameters()
    mw = "indexing.minimum_wage"
    assert params.at(mw, D(2023, 4, 30)).value == 920_000_00
    assert params.at(mw, D(2023, 5, 1)).value == 980_000_00
    assert params.at(mw, D(2023, 5, 1)).confidence == "unverified"
    assert params.at(mw, D(2025, 8, 1)).value == 1_271_000_00
    with pytest.raises(MissingParameter):
        params.at(mw, D(2022, 5, 31))
    with pytest.raises(MissingParameter):
        params.at(mw, D(2027, 1, 1))
    with pytest.raises(MissingParameter):
        params.get("no.such.parameter")


def test_refinancing_rate_history() -> None:
    params = load_parameters()
    rate = "cbu.refinancing_rate"
    assert params.at(rate, D(2023, 1, 1)).value == Fraction(15, 100)
    assert params.at(rate, D(2024, 1, 1)).value == Fraction(14, 100)
    assert params.at(rate, D(2024, 8, 1)).value == Fraction(135, 1000)
    assert params.at(rate, D(2026, 1, 28)).value == Fraction(14, 100)


def test_jsc_dividend_window() -> None:
    params = load_parameters()
    assert params.at("dividend.jsc_exempt", D(2024, 12, 31)).value is True
    assert params.at("dividend.jsc_exempt", D(2025, 1, 1)).value is False
    assert params.at("dividend.jsc_exempt", D(2025, 1, 1)).confidence == "unverified"


def test_the_engine_needs_only_existing_parameters() -> None:
    names = load_parameters().parameters
    for name in CONSTANT_IN_YEAR + DATED_IN_YEAR:
        assert name in names


def test_loaded_once_and_versioned_by_content() -> None:
    assert load_parameters() is load_parameters()
    files = packaged_parameter_files()
    assert parse_parameter_files(files).version == load_parameters().version
    changed = dict(files)
    changed["rates.yaml"] = files["rates.yaml"].replace('"12%"', '"13%"')
    assert parse_parameter_files(changed).version != load_parameters().version


def test_values_are_frozen() -> None:
    value = load_parameters().at("pit.rate.general", D(2026, 1, 1))
    with pytest.raises(AttributeError):
        value.value = Fraction(1)  # type: ignore[misc]


GOOD = """
p.x:
  description: A rate.
  unit: rate
  confidence: verified
  reference: {article: Art 1, source: https://lex.uz}
  values:
    2020-01-01: {value: "12%", until: 2026-12-31}
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"12%"', "0.12", "quoted percentage"),
        ("  confidence: verified\n", "", "confidence"),
        ("  reference: {article: Art 1, source: https://lex.uz}\n", "", "reference"),
        ("unit: rate", "unit: furlongs", "unit"),
        ("  description: A rate.\n", "", "description"),
        ("until: 2026-12-31", "until: 2019-12-31", "until"),
        ("2020-01-01:", "2020-13-01:", "YAML"),
        ("    2020-01-01:", '    2020-06-01: {value: "5%"}\n    2020-01-01:', "overlaps"),
    ],
)
def test_malformed_parameter_files_are_rejected(old: str, new: str, message: str) -> None:
    assert parse_parameter_files({"x.yaml": GOOD}).at("p.x", D(2021, 1, 1)).value == Fraction(
        12, 100
    )
    broken = GOOD.replace(old, new)
    assert broken != GOOD
    with pytest.raises(ParameterFileError):
        parse_parameter_files({"x.yaml": broken})


def test_a_rate_changing_inside_a_tax_year_is_refused() -> None:
    files = packaged_parameter_files()
    files["rates.yaml"] = files["rates.yaml"].replace(
        '      value: "12%"\n      until: 2026-12-31',
        '      value: "12%"\n      until: 2026-06-30\n    2026-07-01:\n'
        '      value: "10%"\n      until: 2026-12-31',
    )
    params = parse_parameter_files(files)
    params.for_year(2025)
    with pytest.raises(ParameterChangesMidYear):
        params.for_year(2026)


def test_an_explicit_unknown_value_is_missing() -> None:
    text = GOOD.replace(
        '2020-01-01: {value: "12%", until: 2026-12-31}',
        '2020-01-01: {value: "12%"}\n    2024-01-01: {value: null}',
    )
    params = parse_parameter_files({"x.yaml": text})
    assert params.at("p.x", D(2023, 12, 31)).value == Fraction(12, 100)
    with pytest.raises(MissingParameter):
        params.at("p.x", D(2024, 1, 1))
