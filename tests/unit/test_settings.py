from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings, SettingsError


def test_defaults_are_the_embedded_setup(tmp_path: Path) -> None:
    settings = Settings.from_env({"PROACTAX_RUN_DIR": str(tmp_path)})
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.database == f"sqlite:///{tmp_path / 'proactax.db'}"
    assert settings.broker_data_path == tmp_path / "kafka"


def test_values_are_typed_and_frozen(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"PROACTAX_RUN_DIR": str(tmp_path), "PROACTAX_BROKER_PORT": "19092"}
    )
    assert settings.broker_port == 19092
    with pytest.raises(AttributeError):
        settings.broker_port = 1  # type: ignore[misc]


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="PROACTAX_PARTITIONS"):
        Settings.from_env({"PROACTAX_PARTITIONS": "many"})


def test_round_trip_through_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"PROACTAX_RUN_DIR": str(tmp_path), "PROACTAX_TOPIC_NAMESPACE": "t1"}
    )
    assert Settings.from_env(settings.as_env()) == settings


@pytest.mark.parametrize(
    ("variable", "extra"),
    [
        ("PROACTAX_CLOCK_START", {}),
        (
            "PROACTAX_NOTIFIER_SECRET_PREVIOUS_UNTIL",
            {"PROACTAX_NOTIFIER_SECRET_PREVIOUS": "an-old-key-of-thirty-two-characters!"},
        ),
    ],
)
def test_an_instant_needs_an_offset(tmp_path: Path, variable: str, extra: dict[str, str]) -> None:
    env = {"PROACTAX_RUN_DIR": str(tmp_path), **extra}
    for bad in ("2027-03-25T09:00:00", "tomorrow"):
        with pytest.raises(SettingsError, match=f"{variable} must be RFC 3339 with an offset"):
            Settings.from_env({**env, variable: bad})
    assert Settings.from_env({**env, variable: "2027-03-25T09:00:00+05:00"})
