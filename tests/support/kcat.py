"""kcat against the secured broker.

Debian 12's kcat links librdkafka 2.0.2, whose SCRAM client final message repeats the
client nonce: Kafka 4 rejects it ("invalid credentials", fixed in librdkafka 2.6.1,
confluentinc/librdkafka#4895). The ``confluent-kafka`` wheel (a dev dependency) ships a
current librdkafka; :func:`kcat_environment` makes the system's kcat load that one instead
(``LD_LIBRARY_PATH`` to a directory holding ``librdkafka.so.1`` -> the wheel's library).
"""

from __future__ import annotations

import os
from pathlib import Path


def wheel_librdkafka() -> Path:
    import confluent_kafka

    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*"))
    assert found, f"no librdkafka in {libs}: pip install confluent-kafka (a dev dependency)"
    return found[0]


def kcat_environment(directory: Path, **extra: str) -> dict[str, str]:
    """The environment for running kcat with the wheel's librdkafka (and ``extra``)."""
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / "librdkafka.so.1"
    if not link.exists():
        link.symlink_to(wheel_librdkafka())
    path = os.pathsep.join(p for p in (str(directory), os.environ.get("LD_LIBRARY_PATH")) if p)
    return {**os.environ, "LD_LIBRARY_PATH": path, **extra}
