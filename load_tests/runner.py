"""Run a swarm of bots (in this process or spread over worker processes).

:func:`run_async` is the public entry point (the CLI's ``run`` calls
:func:`run`, its synchronous wrapper). Phases:

1. ramp: every process connects its bots (bounded concurrency, retries);
2. the runner scrapes ``/metrics`` (and reads ``/proc`` CPU of
   ``server_pids``), then opens the measurement window ``[t0, t0 + duration]``
   in every process at the same monotonic instant (``CLOCK_MONOTONIC`` is
   system-wide, so worker clocks agree);
3. at ``t1`` it scrapes again; workers stop at ``t1`` + ack grace, close their
   sockets and send back their raw :class:`Measurements`, which are merged.

Everything is bounded: the ramp by its timeout, the window by ``duration``,
the whole run by a hard deadline (ramp timeout + duration + 60 s) after which
bots are aborted and worker processes terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing as mp
import os
import queue
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from load_tests.bot import Progress, Swarm, SwarmConfig
from load_tests.metrics import Scrape, proc_cpu_seconds, scrape_all, server_figures
from load_tests.stats import Measurements, build_report

T = TypeVar("T")

ProgressCallback = Callable[[Progress], None]


@dataclass
class RunConfig:
    """A run: the bots' workload plus where they run and what else to measure."""

    swarm: SwarmConfig
    processes: int = 1
    """Bot processes; 1 runs the bots in the calling process."""
    server_pids: list[int] = field(default_factory=list)
    """Server processes on this machine whose /proc CPU time is reported."""

    @property
    def hard_deadline(self) -> float:
        return self.swarm.effective_ramp_timeout + self.swarm.duration + 60.0


@dataclass
class RunResult:
    report: dict[str, Any]
    measurements: Measurements


def _pids_cpu(pids: list[int]) -> float | None:
    if not pids:
        return None
    total = 0.0
    for pid in pids:
        v = proc_cpu_seconds(pid)
        if v is None:
            return None
        total += v
    return total


class _ServerProbe:
    """Before/after figures of the servers under test."""

    def __init__(self, urls: list[str], pids: list[int]) -> None:
        self.urls, self.pids = urls, pids
        self.before: Scrape | None = None
        self.after: Scrape | None = None
        self.cpu0: float | None = None
        self.cpu1: float | None = None

    async def start(self) -> None:
        self.cpu0 = _pids_cpu(self.pids)
        self.before = await scrape_all(self.urls)

    async def stop_at(self, t1: float) -> None:
        delay = t1 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self.cpu1 = _pids_cpu(self.pids)
        self.after = await scrape_all(self.urls)

    def figures(self) -> dict[str, Any] | None:
        pid_cpu = None
        if self.cpu0 is not None and self.cpu1 is not None:
            pid_cpu = self.cpu1 - self.cpu0
        return server_figures(self.before, self.after, pid_cpu, self.urls)


def merge_progress(parts: list[Progress]) -> Progress:
    """Sum the per-process progress figures (worst p99 wins)."""
    out = Progress()
    for p in parts:
        out.planned += p.planned
        out.connected += p.connected
        out.snaps += p.snaps
        out.errors += p.errors
        out.measuring = out.measuring or p.measuring
        out.elapsed = max(out.elapsed, p.elapsed)
        for attr in ("ack_p99", "rtt_p99"):
            v = getattr(p, attr)
            cur = getattr(out, attr)
            if v is not None and (cur is None or v > cur):
                setattr(out, attr, v)
    return out


async def run_async(cfg: RunConfig, on_progress: ProgressCallback | None = None) -> RunResult:
    """Run the workload and return the report (see :func:`stats.build_report`)."""
    if cfg.processes <= 1:
        m, probe = await _run_here(cfg, on_progress)
    else:
        m, probe = await _run_workers(cfg, on_progress)
    return RunResult(build_report(m, probe.figures()), m)


def run(cfg: RunConfig, on_progress: ProgressCallback | None = None) -> RunResult:
    """Synchronous :func:`run_async` on a fresh uvloop (asyncio if unavailable)."""
    return _event_loop_run(run_async(cfg, on_progress))


def _event_loop_run(coro: Coroutine[Any, Any, T]) -> T:
    # A bot process allocates a few hundred thousand short-lived objects a
    # second; default GC pauses would show up as latency of the server under
    # test. Same tuning as the servers (gameserver/asgi.py).
    gc.set_threshold(20_000, 20, 20)
    gc.freeze()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    return uvloop.run(coro)


async def _report_progress(get: Callable[[], Progress], cb: ProgressCallback | None) -> None:
    if cb is None:
        return
    while True:
        cb(get())
        await asyncio.sleep(0.5)


async def _run_here(cfg: RunConfig,
                    on_progress: ProgressCallback | None) -> tuple[Measurements, _ServerProbe]:
    sc = cfg.swarm
    swarm = Swarm(sc, range(sc.total_bots))
    probe = _ServerProbe(sc.urls, cfg.server_pids)
    reporter = asyncio.get_running_loop().create_task(_report_progress(swarm.progress,
                                                                       on_progress))
    stopper: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(cfg.hard_deadline):
            await swarm.ramp()
            await probe.start()
            t0 = time.monotonic()
            swarm.open_window(t0, t0 + sc.duration)
            stopper = asyncio.get_running_loop().create_task(probe.stop_at(t0 + sc.duration))
            m = await swarm.finish()
            await stopper
    except TimeoutError:
        await swarm.abort()
        m = swarm.m
        m.errors["hard_deadline"] += 1
        if stopper is not None and not stopper.done():
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        if on_progress is not None:
            on_progress(swarm.progress())
    return m, probe


# -- worker processes -----------------------------------------------------------


def _worker_entry(sc: SwarmConfig, wid: int, nproc: int, q: Any, go: Any, t0v: Any) -> None:
    """A bot process: ramp, report ``ramped``, wait for the go, measure, send results."""
    _event_loop_run(_worker_main(sc, wid, nproc, q, go, t0v))


async def _worker_main(sc: SwarmConfig, wid: int, nproc: int, q: Any, go: Any, t0v: Any) -> None:
    swarm = Swarm(sc, range(wid, sc.total_bots, nproc))
    loop = asyncio.get_running_loop()

    def push(p: Progress) -> None:
        q.put(("progress", wid, p))

    reporter = loop.create_task(_report_progress(swarm.progress, push))
    try:
        async with asyncio.timeout(sc.effective_ramp_timeout + sc.duration + 45.0):
            await swarm.ramp()
            q.put(("ramped", wid, None))
            ok = await loop.run_in_executor(None, go.wait, sc.effective_ramp_timeout + 30.0)
            if not ok:
                raise TimeoutError
            t0 = float(t0v.value)
            swarm.open_window(t0, t0 + sc.duration)
            m = await swarm.finish()
    except TimeoutError:
        await swarm.abort()
        m = swarm.m
        m.errors["hard_deadline"] += 1
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
    q.put(("result", wid, m))


async def _run_workers(cfg: RunConfig,
                       on_progress: ProgressCallback | None) -> tuple[Measurements, _ServerProbe]:
    sc = cfg.swarm
    n = cfg.processes
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    go = ctx.Event()
    t0v = ctx.Value("d", 0.0)
    procs = [ctx.Process(target=_worker_entry, args=(sc, w, n, q, go, t0v),
                         name=f"bots-{w}", daemon=True) for w in range(n)]
    for p in procs:
        p.start()
    probe = _ServerProbe(sc.urls, cfg.server_pids)
    loop = asyncio.get_running_loop()
    progress: dict[int, Progress] = {}
    ramped: set[int] = set()
    results: dict[int, Measurements] = {}
    started = time.monotonic()
    hard_end = started + cfg.hard_deadline

    def get_one() -> tuple[str, int, Any] | None:
        try:
            item: tuple[str, int, Any] = q.get(timeout=0.2)
            return item
        except queue.Empty:
            return None

    async def pump_until(cond: Callable[[], bool], until: float) -> None:
        last_cb = 0.0
        while not cond() and time.monotonic() < until:
            item = await loop.run_in_executor(None, get_one)
            if item is not None:
                kind, wid, payload = item
                if kind == "progress":
                    progress[wid] = payload
                elif kind == "ramped":
                    ramped.add(wid)
                elif kind == "result":
                    results[wid] = payload
            if on_progress is not None and time.monotonic() - last_cb >= 0.5 and progress:
                last_cb = time.monotonic()
                on_progress(merge_progress(list(progress.values())))
            if not any(p.is_alive() for p in procs) and q.empty():
                break

    try:
        # Spawned interpreters need a few seconds to import before they ramp.
        await pump_until(lambda: len(ramped) >= n,
                         min(hard_end, started + sc.effective_ramp_timeout + 30.0))
        await probe.start()
        t0 = time.monotonic() + 0.05
        t0v.value = t0
        go.set()
        stopper = loop.create_task(probe.stop_at(t0 + sc.duration))
        await pump_until(lambda: len(results) >= n, min(hard_end, t0 + sc.duration + 30.0))
        await stopper
    finally:
        go.set()  # never leave a worker waiting
        for p in procs:
            await loop.run_in_executor(None, p.join, 10.0)
            if p.is_alive():
                p.terminate()
                await loop.run_in_executor(None, p.join, 5.0)
        q.close()
        q.join_thread()
    merged = Measurements()
    for wid in sorted(results):
        merged.merge(results[wid])
    missing = n - len(results)
    if missing:
        merged.errors["worker_lost"] += missing
    if on_progress is not None and progress:
        on_progress(merge_progress(list(progress.values())))
    return merged, probe


def default_processes() -> int:
    """One bot process per spare core, at least one."""
    return max(1, (os.cpu_count() or 2) - 1)
