"""The on-disk stores of the registry path (streams/state.py), without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.state import Overlay, StateDir, TableStore


def test_a_batch_writes_nothing_to_disk_until_it_is_applied(tmp_path: Path) -> None:
    store = TableStore(tmp_path / "ledger-0")
    store.apply({"2026:a": {"v": 1}}, checkpoint=3)
    overlay = Overlay(store)
    overlay.put("2026:a", {"v": 2})
    overlay.put("2026:b", {"v": 1})
    assert overlay.get("2026:a") == {"v": 2}  # the batch sees its own writes
    assert store.get("2026:a") == {"v": 1}
    assert store.get("2026:b") is None
    overlay.drop()  # the transaction aborted: a crash would leave the same disk
    store.close()
    reopened = TableStore(tmp_path / "ledger-0")
    assert reopened.get("2026:a") == {"v": 1}
    assert reopened.get("2026:b") is None
    assert reopened.checkpoint() == 3


def test_applied_writes_and_their_checkpoint_survive_a_reopen(tmp_path: Path) -> None:
    store = TableStore(tmp_path / "ledger-1")
    assert store.checkpoint() is None  # a new store restores from the log's start
    overlay = Overlay(store)
    overlay.put("2026:a", {"v": 1})
    store.apply(overlay.take(), checkpoint=10)
    store.close()
    reopened = TableStore(tmp_path / "ledger-1")
    assert reopened.get("2026:a") == {"v": 1}
    assert reopened.checkpoint() == 10


def test_restored_changelog_records_apply_with_their_checkpoint(tmp_path: Path) -> None:
    store = TableStore(tmp_path / "releases-0")
    store.apply_raw([(b"2026:0", b'{"state":"done"}'), (b"2025:0", b'{"state":"x"}')], 7)
    store.apply_raw([(b"2025:0", None)], 9)  # a tombstone deletes
    assert store.get("2026:0") == {"state": "done"}
    assert store.get("2025:0") is None
    assert store.checkpoint() == 9


def test_items_walk_one_prefix_in_key_order_and_never_the_checkpoint(tmp_path: Path) -> None:
    store = TableStore(tmp_path / "ledger-2")
    store.apply({"2025:b": 1, "2026:c": 2, "2026:a": 3, "2027:a": 4}, checkpoint=1)
    assert list(store.items("2026:")) == [("2026:a", 3), ("2026:c", 2)]
    assert list(store.items("2026:", after="2026:a")) == [("2026:c", 2)]
    assert [key for key, _ in store.items()] == ["2025:b", "2026:a", "2026:c", "2027:a"]


def test_the_overlay_merges_its_writes_into_the_walk(tmp_path: Path) -> None:
    store = TableStore(tmp_path / "ledger-3")
    store.apply({"2026:b": "disk", "2026:d": "disk"}, checkpoint=1)
    overlay = Overlay(store)
    overlay.put("2026:a", "new")
    overlay.put("2026:d", "changed")
    overlay.put("2026:e", "new")
    overlay.put("2025:z", "other year")
    assert list(overlay.items("2026:")) == [
        ("2026:a", "new"),
        ("2026:b", "disk"),
        ("2026:d", "changed"),
        ("2026:e", "new"),
    ]
    assert list(overlay.items("2026:", after="2026:b")) == [
        ("2026:d", "changed"),
        ("2026:e", "new"),
    ]


def test_two_workers_on_one_machine_take_different_slots(tmp_path: Path) -> None:
    first, second = StateDir(tmp_path), StateDir(tmp_path)
    assert first.acquire() != second.acquire()
    slot = first.acquire()
    first.release()
    third = StateDir(tmp_path)
    assert third.acquire() == slot  # a restarted worker finds its slot again
    second.release()
    third.release()


def rocksdb_options_file(store_path: Path) -> dict[str, str]:
    """The options RocksDB itself wrote beside the store (its ``OPTIONS-*`` file), as
    ``name=value`` pairs."""
    newest = max(store_path.glob("OPTIONS-*"), key=lambda f: int(f.name.split("-")[1]))
    pairs = (line.strip().split("=", 1) for line in newest.read_text().splitlines())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def test_a_store_opens_with_its_first_level_sized_to_the_level0_compaction(
    tmp_path: Path,
) -> None:
    # RocksDB's default first level (256 MiB) made the event loop's gets search piles of
    # level-0 files (bench/state_store.py): the store must open with the sized levels.
    store = TableStore(tmp_path / "ledger-0")
    store.close()
    written = rocksdb_options_file(tmp_path / "ledger-0")
    assert written["max_bytes_for_level_base"] == str(4 * 4 * 1024 * 1024)
    assert written["target_file_size_base"] == str(4 * 1024 * 1024)
    assert written["write_buffer_size"] == str(4 * 1024 * 1024)
    assert written["level0_file_num_compaction_trigger"] == "4"
    assert written["compression"] == "kLZ4Compression"
    # the two levels compacted most often are not compressed (bench/state_store.py)
    assert written["compression_per_level"] == ":".join(
        ["kNoCompression"] * 2 + ["kLZ4Compression"] * 5
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    on_disk=st.dictionaries(
        st.text("ab:/", min_size=1, max_size=4), st.integers(0, 99), max_size=8
    ),
    batch=st.lists(
        st.tuples(st.text("ab:/", min_size=1, max_size=4), st.integers(0, 99)), max_size=12
    ),
    reads=st.lists(
        st.tuples(st.text("ab:/", max_size=3), st.none() | st.text("ab:/", max_size=4)),
        min_size=1,
        max_size=6,
    ),
)
def test_the_overlay_walk_is_the_merge_of_disk_and_batch(
    tmp_path_factory: pytest.TempPathFactory,
    on_disk: dict[str, int],
    batch: list[tuple[str, int]],
    reads: list[tuple[str, str | None]],
) -> None:
    """Every walk, before and after more writes, equals the plain filter of disk and
    batch merged: whatever the prefix, and an ``after`` that sorts before the prefix too
    (the store's walk once stopped at once then: it sought to ``after``, met a key
    outside the prefix and ended)."""
    store = TableStore(tmp_path_factory.mktemp("overlay") / "store")
    store.apply(on_disk, checkpoint=1)
    overlay = Overlay(store)
    merged = dict(on_disk)
    half = len(batch) // 2
    for stage in (batch[:half], batch[half:]):
        for key, value in stage:
            overlay.put(key, value)
            merged[key] = value
        for prefix, after in reads:
            expected = sorted(
                (k, v)
                for k, v in merged.items()
                if k.startswith(prefix) and (after is None or k > after)
            )
            assert list(overlay.items(prefix, after)) == expected
    store.close()
