"""The file key store on its own: what `put` costs when intake's requests arrive together.

    python -m opendeur.devtools.keystore_perf [--puts 2000] [--concurrency 64] [--dir DIR]

Runs `FileKeyStore.put` as intake does (asyncio) `--puts` times with `--concurrency` in flight,
in a fresh directory (under --dir, default the system's temp dir: use the disk the data dir is
on), then destroys every record the same way (a thread each). Prints per operation: the wall time
(p50 / p99 ms), this process's CPU µs and the syncs made (fdatasync of a segment; the directory's
fsyncs when a segment is made or unlinked are not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from contracts.events import new_id
from opendeur import keystore
from opendeur.keystore import FileKeyStore


async def _timed(
    op: Callable[[UUID], Awaitable[Any]], qids: list[UUID], concurrency: int
) -> list[float]:
    gate = asyncio.Semaphore(concurrency)
    took: list[float] = []

    async def one(qid: UUID) -> None:
        async with gate:
            started = time.perf_counter()
            await op(qid)
            took.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(one(q) for q in qids))
    return took


def _summary(name: str, took: list[float], cpu: float, wall: float, syncs: int) -> dict:
    n = len(took)
    ordered = sorted(took)
    return {
        "op": name,
        "count": n,
        "per_s": round(n / wall),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(n - 1, int(n * 0.99))], 2),
        "cpu_us_per_op": round(cpu / n * 1e6, 1),
        "syncs": syncs,
    }


async def run(puts: int, concurrency: int, directory: Path) -> list[dict]:
    syncs = 0
    real = keystore._datasync

    def counted(fd: int) -> None:
        nonlocal syncs
        syncs += 1
        real(fd)

    keystore._datasync = counted
    try:
        store = FileKeyStore(directory / "keys")
        qids = [new_id() for _ in range(puts)]
        wrapped = b"k1:" + bytes(60)
        out = []
        for name, op in (
            ("put", lambda q: store.put(q, wrapped)),
            ("destroy", store.destroy),
        ):
            syncs = 0
            wall, cpu = time.perf_counter(), time.process_time()
            took = await _timed(op, qids, concurrency)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            out.append(_summary(name, took, cpu, wall, syncs))
        store.close()
        return out
    finally:
        keystore._datasync = real


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m opendeur.devtools.keystore_perf", description=__doc__
    )
    parser.add_argument("--puts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="keystore-perf-", dir=args.dir) as tmp:
        out = asyncio.run(run(args.puts, args.concurrency, Path(tmp)))
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{'op':<8} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/op':>10} syncs")
        for r in out:
            print(
                f"{r['op']:<8} {r['per_s']:>7} {r['p50_ms']:>8} {r['p99_ms']:>8} "
                f"{r['cpu_us_per_op']:>10} {r['syncs']} of {r['count']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
