"""PINFLs do not reach the logs through exception text (issue 14, Low): the redacting
filter masks formatted tracebacks and stacks, and database errors quote no parameters."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert
from sqlalchemy.exc import IntegrityError

from proactax.logs import RedactingFilter
from storage.database import make_engine

PINFL = "31234567890123"
PHONE = "+998901234567"


@pytest.fixture
def captured() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger(f"test-logs-{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    return logger, stream


def test_a_traceback_is_redacted(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise ValueError(f"no person {PINFL} with phone {PHONE}")
    except ValueError:
        logger.exception("lookup failed")
    logger.warning("where am I", stack_info=True, extra={"note": PINFL})
    text = stream.getvalue()
    assert "ValueError: no person 312********123 with phone +998*********" in text
    assert PINFL not in text and PHONE not in text


def test_database_errors_quote_no_parameters(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    table = Table("people", MetaData(), Column("pinfl", String(14), primary_key=True))
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(table).values(pinfl=PINFL))
    with pytest.raises(IntegrityError) as error, engine.begin() as connection:
        connection.execute(insert(table).values(pinfl=PINFL))
    assert PINFL not in str(error.value)
    assert "parameters hidden" in str(error.value)
