"""Where the runs of ``advnb sweep`` and ``advnb replicate`` execute: Dask distributed.

Every run (one chapter, one set of parameters, one output folder) is one task submitted to a
``distributed.Client``; the task calls :func:`advnb.book.runs.execute`, the same papermill execution
as ``advnb run``. Three ways to get the client:

- default: a ``LocalCluster`` sized to the machine: one worker process per core (at most one per run),
  each worker running one run at a time, and the torch threads divided so that
  workers x threads <= cores (``OMP_NUM_THREADS`` of each run's kernel);
- ``--scheduler tcp://HOST:PORT``: an existing cluster (``dask scheduler`` and ``dask worker`` on any
  machines with advnb installed and a shared or per-worker ``$ADVNB_CACHE``);
- ``--workers 1``: in this process, no Dask at all (as ``advnb run`` does).

Faults: a worker that dies in the middle of a run (killed, out of memory) has that run re-run on another
worker by the scheduler (up to its ``allowed-failures``, 3 by default). A run writes into a temporary folder
and moves its files into place only once it has succeeded (:func:`advnb.book.runs.execute`), and the next
run into that folder removes what a killed one left, so the output holds every run exactly once. A run that
fails (an assertion of the chapter) is not retried: it is reported, and the others go on.

Each run's record says where it ran: ``{"executor", "worker", "host", "pid", "threads"}``.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .runs import UsageError


@dataclass
class Run:
    """One chapter execution: ``chapter`` with ``params`` into ``folder`` (its ``name`` for progress)."""

    name: str
    chapter: str
    params: dict[str, Any]
    folder: Path
    meta: dict[str, Any] = field(default_factory=dict)  # the caller's own bookkeeping (swept values, seed)


def cores() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def check_options(workers: int | None, scheduler: str | None) -> None:
    """One-line UsageErrors for ``--workers`` and ``--scheduler``, before anything runs."""
    if workers is not None and scheduler is not None:
        raise UsageError("arguments --workers and --scheduler: give one of them (a cluster's size is its own)")
    if workers is not None and workers < 1:
        raise UsageError(f"argument --workers: must be a whole number >= 1 (got {workers})")
    if scheduler is not None and "://" not in scheduler:
        raise UsageError(f"argument --scheduler: must be an address such as tcp://HOST:PORT (got {scheduler!r})")


def execute_run(run: Run, executor: str, threads: int | None) -> dict[str, Any]:
    """Execute one run (in a Dask worker or in this process) and return its record, with where it ran."""
    from .runs import execute

    worker_address = None
    if executor != "in-process":
        from distributed import get_worker

        worker_address = get_worker().address
    if threads is not None:  # the kernel papermill starts inherits them (torch reads OMP_NUM_THREADS)
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    where = {"executor": executor, "worker": worker_address, "host": socket.gethostname(), "pid": os.getpid(),
             "threads": threads}
    path = execute(run.chapter, run.params, run.folder, progress=False, where=where)
    return json.loads(Path(path).read_text())


class Executor:
    """Runs :class:`Run` s in this process or on a Dask cluster; a context manager.

    ``workers``: None (a LocalCluster of ``min(cores, n_runs)`` workers; one run needs no cluster),
    1 (in this process), or N (a LocalCluster of N workers). ``scheduler``: the address of an existing
    cluster. ``n_runs`` sizes the default cluster.
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None, n_runs: int = 1):
        check_options(workers, scheduler)
        self.scheduler = scheduler
        self.n_workers = workers
        if workers is None and scheduler is None:  # one run needs no cluster: min(...) is then 1, in-process
            self.n_workers = max(1, min(cores(), n_runs))
        self.kind = "scheduler" if scheduler else ("in-process" if self.n_workers == 1 else "local-cluster")
        self.threads = None if scheduler else max(1, cores() // self.n_workers)
        self.client = self.cluster = None

    def __enter__(self) -> "Executor":
        if self.kind == "in-process":
            return self
        import logging

        from distributed import Client, LocalCluster

        for name in ("distributed", "distributed.worker", "distributed.scheduler", "distributed.nanny"):
            logging.getLogger(name).setLevel(logging.ERROR)  # a killed worker is handled; its warnings are noise
        if self.kind == "scheduler":
            try:
                self.client = Client(self.scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise UsageError(f"argument --scheduler: cannot reach {self.scheduler} ({first})") from None
        else:
            self.cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1, processes=True,
                                        memory_limit=0, dashboard_address=None, host="127.0.0.1")
            self.client = Client(self.cluster)
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def describe(self) -> str:
        if self.kind == "in-process":
            return "in this process"
        if self.kind == "scheduler":
            return f"on the cluster at {self.scheduler} ({len(self.client.scheduler_info()['workers'])} workers)"
        return f"on a local Dask cluster of {self.n_workers} workers x {self.threads} thread(s)"

    def map(self, runs: list[Run]) -> Iterator[tuple[Run, dict | None, Exception | None]]:
        """Execute ``runs``; yield ``(run, record, None)`` or ``(run, None, error)`` as each finishes."""
        if self.kind == "in-process":
            for run in runs:
                try:
                    yield run, execute_run(run, "in-process", None), None
                except RuntimeError as e:
                    yield run, None, e
            return
        from distributed import as_completed

        futures = {self.client.submit(execute_run, run, self.kind, self.threads, key=f"advnb-{run.name}-{id(run)}",
                                      pure=False): run for run in runs}
        try:
            for future in as_completed(futures):
                run = futures[future]
                try:
                    yield run, future.result(), None
                except Exception as e:  # the chapter failed, or its worker died too often (KilledWorker)
                    yield run, None, e if isinstance(e, RuntimeError) else RuntimeError(f"{type(e).__name__}: {e}")
        finally:
            for future in futures:
                future.cancel()
