"""``storage.models.CompressedJSON``: return documents stored as zstd frames; rows that zlib
wrote before the eleventh session still read."""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from storage.models import ZSTD_MAGIC, CompressedJSON

COLUMN = CompressedJSON()
DIALECT = sqlite.dialect()
DOCUMENT = {"pinfl": "31403850261230", "lines": [{"code": "employment.gross", "amount_tiyin": 1}]}


def stored(value: dict[str, Any] | bytes) -> bytes:
    data = COLUMN.process_bind_param(value, DIALECT)
    assert data is not None
    return data


def test_a_document_is_stored_as_a_zstd_frame_and_reads_back() -> None:
    data = stored(DOCUMENT)
    assert data[:4] == ZSTD_MAGIC
    assert COLUMN.process_result_value(data, DIALECT) == DOCUMENT
    # bytes are taken as the document's JSON already: the same frame's content
    assert COLUMN.process_result_value(stored(orjson.dumps(DOCUMENT)), DIALECT) == DOCUMENT
    assert COLUMN.process_bind_param(None, DIALECT) is None
    assert COLUMN.process_result_value(None, postgresql.dialect()) is None


def test_a_row_zlib_wrote_still_reads() -> None:
    old = zlib.compress(orjson.dumps(DOCUMENT), 1)
    assert COLUMN.process_result_value(old, DIALECT) == DOCUMENT


def test_a_return_sized_document_shrinks_several_times() -> None:
    lines = [{"code": f"employment.gross.{i}", "source": "payroll", "amount_tiyin": i * 1_000}
             for i in range(100)]  # fmt: skip
    document = {"pinfl": "31403850261230", "lines": lines}
    assert len(stored(document)) * 5 < len(orjson.dumps(document))


def test_threads_compressing_at_once_each_get_their_own_document_back() -> None:
    """zstandard's compressors are not thread-safe: each thread has its own."""
    documents = [{"n": n, "text": "ab" * (n % 500)} for n in range(2_000)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        frames = list(pool.map(stored, documents))
        back = list(pool.map(lambda f: COLUMN.process_result_value(f, DIALECT), frames))
    assert back == documents


INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what orjson encodes


@given(st.dictionaries(st.text(max_size=8), INT64 | st.text(max_size=40), max_size=20))
def test_any_json_object_round_trips(document: dict[str, Any]) -> None:
    assert COLUMN.process_result_value(stored(document), DIALECT) == document
