"""Run a sweep's chunks in this process or on a Dask cluster, writing each chunk's table as it finishes.

Each chunk is a task returning a pyarrow table, written to CHUNK_DIR/chunk-N.parquet through a temporary file
and a rename, so a file that exists is whole: `resume` skips those chunks. The caller's process writes it, or,
where the workers share its file system (a LocalCluster), the worker that costed it: shipping every table to
the caller cost the Dask path about half again the single process's CPU on 2 cores. A worker that dies
mid-chunk loses nothing: the scheduler reruns its task elsewhere (and `retries` covers a task that raised);
a rerun writes the same table over the same name, so no row is ever written twice.
"""
from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from .chunks import Chunk

CHUNK_DIR = "chunks"
RETRIES = 3                      # reruns of a chunk whose task raised (a dead worker is rerun by the scheduler)


@dataclass(frozen=True)
class EngineReport:
    chunks_run: int
    chunks_skipped: int
    points_run: int
    seconds: float

    @property
    def points_per_s(self) -> float:
        return self.points_run / self.seconds if self.seconds > 0 else float("nan")


def chunk_path(out_dir: Path, chunk: Chunk) -> Path:
    return out_dir / CHUNK_DIR / chunk.file_name


def write_table(table: pa.Table, path: Path) -> None:
    """Whole or not at all: a temporary file beside `path`, renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def cost_and_write(fn: Callable, path: Path, *args) -> int:
    """A worker's task when it writes its own chunk: the table's rows (all the caller needs back)."""
    table = fn(*args)
    write_table(table, path)
    return table.num_rows


def pending(chunks: Sequence[Chunk], out_dir: Path, resume: bool) -> list[Chunk]:
    """The chunks still to run; stale temporary files of an interrupted run are removed."""
    d = out_dir / CHUNK_DIR
    d.mkdir(parents=True, exist_ok=True)
    for tmp in d.glob(".chunk-*.tmp"):
        tmp.unlink(missing_ok=True)
    return [c for c in chunks if not (resume and chunk_path(out_dir, c).is_file())]


def run_chunks(chunks: Sequence[Chunk], out_dir: Path, make_args: Callable[[Chunk], tuple], fn: Callable,
               client=None, resume: bool = False, progress: bool = True, workers_write: bool = False) -> EngineReport:
    """Run fn(*make_args(chunk)) -> pa.Table for every chunk not yet written; client None: in this process.
    With a client, make_args may return futures (scattered data) among its arguments; workers_write: the
    workers write the chunk files themselves (they must see out_dir)."""
    todo = pending(chunks, Path(out_dir), resume)
    total = sum(c.points for c in chunks)
    bar = tqdm(total=total, initial=total - sum(c.points for c in todo), unit="pt", unit_scale=True,
               desc="sweep", disable=not progress, smoothing=0.1)
    t0 = time.perf_counter()
    try:
        if client is None:
            for c in todo:
                write_table(fn(*make_args(c)), chunk_path(out_dir, c))
                bar.update(c.points)
        else:
            from distributed import as_completed

            run_id = uuid.uuid4().hex   # a fresh key per run: a reused key names the old run's task and its data

            def task(c: Chunk):
                key = f"bitmixer-sweep-{run_id}-{c.index}"
                if workers_write:
                    return client.submit(cost_and_write, fn, chunk_path(out_dir, c), *make_args(c), key=key,
                                         retries=RETRIES, pure=False)
                return client.submit(fn, *make_args(c), key=key, retries=RETRIES, pure=False)

            futures = {task(c): c for c in todo}
            for fut in as_completed(futures):
                c = futures.pop(fut)
                result = fut.result()
                if not workers_write:
                    write_table(result, chunk_path(out_dir, c))
                fut.release()
                bar.update(c.points)
    finally:
        bar.close()
    return EngineReport(len(todo), len(chunks) - len(todo), sum(c.points for c in todo), time.perf_counter() - t0)
