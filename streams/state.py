"""On-disk state of the registry path: one RocksDB (rocksdict) per (table, partition).

The order of a write (docs/architecture.md, "Exactly-once on the registry path"):
1. a batch writes into an in-memory ``Overlay``; its reads see the overlay, then the disk;
2. streams/transactions.py sends the overlay to the table's changelog partition inside
   the batch's Kafka transaction, and commits it;
3. only then ``TableStore.apply`` writes the overlay to disk in one WriteBatch together
   with the checkpoint: the next changelog offset to read.
A crash before 3 leaves the disk at its old checkpoint and restore replays the changelog
from there; the disk never holds a write that did not commit.

Memory stays bounded whatever the population: one small block cache and a write-buffer
budget shared by every store of the process, and nothing here keeps all keys in RAM (a
year's release walks the store by key prefix).
"""

from __future__ import annotations

import fcntl
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import rocksdict

CHECKPOINT_KEY = b"\x00checkpoint"  # sorts before every data key, and is no data key's prefix
BLOCK_CACHE_BYTES = 32 * 1024 * 1024
WRITE_BUFFER_BYTES = 4 * 1024 * 1024
WRITE_BUFFERS_TOTAL_BYTES = 64 * 1024 * 1024
LEVEL0_FILES_TO_COMPACT = 4  # RocksDB's level0_file_num_compaction_trigger (its default)
FIRST_LEVEL_BYTES = LEVEL0_FILES_TO_COMPACT * WRITE_BUFFER_BYTES
TARGET_FILE_BYTES = WRITE_BUFFER_BYTES  # an SST file of a level: about a flushed buffer
ROCKSDB_LEVELS = 7  # RocksDB's num_levels (its default): one compression type each
UNCOMPRESSED_LEVELS = 2  # level 0 and the first level: rewritten most, a tenth of the bytes


def compression_per_level() -> list[rocksdict.DBCompressionType]:
    """No compression on the levels compacted most often, LZ4 below them (RocksDB's
    tuning guide): ``bench/state_store.py``, RocksDB's own CPU 15 – 20 % less at 100,000
    and 200,000 ledgers, for 10 – 20 % more bytes on disk; the loop's gets within ± 10 %
    (docs/benchmarks.md, twelfth session)."""
    none, lz4 = rocksdict.DBCompressionType.none(), rocksdict.DBCompressionType.lz4()
    return [none] * UNCOMPRESSED_LEVELS + [lz4] * (ROCKSDB_LEVELS - UNCOMPRESSED_LEVELS)


def encode(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def decode(raw: bytes) -> Any:
    return orjson.loads(raw)


@functools.cache
def _shared_memory() -> tuple[rocksdict.Cache, rocksdict.WriteBufferManager]:
    """The block cache and write-buffer budget of every store in this process."""
    cache = rocksdict.Cache(BLOCK_CACHE_BYTES)
    buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
        WRITE_BUFFERS_TOTAL_BYTES, False, cache
    )
    return cache, buffers


def store_options() -> rocksdict.Options:
    """The options every store of this process opens with.

    The level sizes follow RocksDB's tuning guide: the first level holds about what the
    level-0 files hold when they are compacted into it (4 files of a write buffer), not
    RocksDB's default 256 MiB. With the default, each level-0 compaction rewrote a large
    first level, compactions fell behind, level-0 files piled up and every ``get`` of the
    event loop searched them: ``python bench/state_store.py`` (100,000 ledgers), the
    calling thread's CPU 43.6 ► 22.4 s; the season at 300,000 residents, one worker,
    263 ► 216 CPU s (docs/benchmarks.md). LZ4 instead of the default Snappy: a little
    cheaper for about the same bytes on disk; none on the two levels rewritten most."""
    cache, buffers = _shared_memory()
    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(WRITE_BUFFER_BYTES)
    options.set_max_write_buffer_number(2)
    options.set_write_buffer_manager(buffers)
    options.set_max_open_files(64)
    options.set_compression_type(rocksdict.DBCompressionType.lz4())
    options.set_compression_per_level(compression_per_level())
    options.set_max_bytes_for_level_base(FIRST_LEVEL_BYTES)
    options.set_target_file_size_base(TARGET_FILE_BYTES)
    table = rocksdict.BlockBasedOptions()
    table.set_block_cache(cache)
    table.set_cache_index_and_filter_blocks(True)
    table.set_bloom_filter(10, False)
    options.set_block_based_table_factory(table)
    return options


class TableStore:
    """One table's partition on disk: str keys, JSON values (orjson), and a checkpoint."""

    def __init__(self, path: Path, options: rocksdict.Options | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        chosen = store_options() if options is None else options
        self.db = rocksdict.Rdict(str(path), options=chosen)

    def get(self, key: str) -> Any:
        raw = self.db.get(key.encode())
        return None if raw is None else decode(raw)

    def items(self, prefix: str = "", after: str | None = None) -> Iterator[tuple[str, Any]]:
        """Keys starting with ``prefix`` in key order (after ``after``, if given), lazily."""
        wanted = prefix.encode()
        passed = None if after is None else after.encode()
        it = self.db.iter()
        it.seek(wanted if passed is None or passed < wanted else passed)  # after may sort first
        while it.valid():
            raw_key: bytes = it.key()
            if not raw_key.startswith(wanted):
                break
            if raw_key != CHECKPOINT_KEY and raw_key != passed:
                yield raw_key.decode(), decode(it.value())
            it.next()

    def checkpoint(self) -> int | None:
        """The next changelog offset to read: everything before it is on disk."""
        raw = self.db.get(CHECKPOINT_KEY)
        return None if raw is None else int(raw)

    def apply(self, writes: dict[str, Any], checkpoint: int) -> None:
        """Committed writes and the new checkpoint, in one atomic WriteBatch.
        A value of None deletes the key."""
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in writes.items():
            if value is None:
                batch.delete(key.encode())
            else:
                batch.put(key.encode(), encode(value))
        batch.put(CHECKPOINT_KEY, str(checkpoint).encode())
        self.db.write(batch)

    def apply_raw(self, records: list[tuple[bytes, bytes | None]], checkpoint: int) -> None:
        """Changelog records as read back (restore), and the new checkpoint, atomically."""
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in records:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.put(CHECKPOINT_KEY, str(checkpoint).encode())
        self.db.write(batch)

    def close(self) -> None:
        self.db.close()


class Overlay:
    """A batch's uncommitted writes over a store: what ``agents/ingest_batch.py`` sees."""

    def __init__(self, store: TableStore) -> None:
        self.store = store
        self.writes: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        if key in self.writes:
            return self.writes[key]
        return self.store.get(key)

    def put(self, key: str, value: Any) -> None:
        self.writes[key] = value

    def items(self, prefix: str = "", after: str | None = None) -> Iterator[tuple[str, Any]]:
        """The store's keys merged with the overlay's, in key order."""
        mine = sorted(
            (key, value)
            for key, value in self.writes.items()
            if key.startswith(prefix) and (after is None or key > after)
        )
        i = 0
        for key, value in self.store.items(prefix, after):
            while i < len(mine) and mine[i][0] < key:
                yield mine[i]
                i += 1
            if i < len(mine) and mine[i][0] == key:
                yield mine[i]
                i += 1
            else:
                yield key, value
        yield from mine[i:]

    def take(self) -> dict[str, Any]:
        writes, self.writes = self.writes, {}
        return writes

    def drop(self) -> None:
        self.writes = {}


class StateDir:
    """``<run_dir>/state/<app_id>/<slot>/``: a worker locks the first free slot (an fcntl
    lock held for the life of the process), so two workers on one machine never open the
    same RocksDB; a restarted worker finds its slot, and its checkpoints, again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock: IO[bytes] | None = None
        self.slot: Path | None = None

    def acquire(self) -> Path:
        if self.slot is not None:
            return self.slot
        self.root.mkdir(parents=True, exist_ok=True)
        for number in range(1024):
            handle = open(self.root / f"{number}.lock", "ab")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self._lock = handle
            self.slot = self.root / str(number)
            self.slot.mkdir(exist_ok=True)
            return self.slot
        raise RuntimeError(f"no free state slot under {self.root}")

    def store_path(self, table: str, partition: int) -> Path:
        return self.acquire() / f"{table}-{partition}"

    def release(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
            self.slot = None


def state_root(run_dir: Path, app_id: str) -> Path:
    return Path(os.fspath(run_dir)) / "state" / app_id
