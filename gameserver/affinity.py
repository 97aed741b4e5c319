"""`CPU_AFFINITY`: the CPUs one server process's threads run on (Linux).

A daphne process is one interpreter whose threads (the event loop, the
`HTTP_THREADS` pool, the database thread) take turns holding the GIL, so it
never runs Python on more than one CPU at a time. Left to the scheduler, its
threads wake on whichever CPU is free and the GIL and the request's objects
travel between CPUs with every hand-over. A guest-session storm on a 2-core
machine shared with PostgreSQL (issue #17, docs/benchmarks.md) measured that
at about a third of the process's CPU per session: with every thread of the
process on one CPU the same storm took 2.4 ms of its CPU a session instead
of 3.8, and the whole machine 3.1 ms instead of 4.7.

`pin()` restricts every thread the process has to the given CPUs; a thread
started later inherits the CPUs of the thread that starts it, so the whole
process stays there. Unset (the default) the operating system decides.
"""

from __future__ import annotations

import os


def parse(spec: str) -> frozenset[int]:
    """CPU numbers from a list like `1` or `0,2-3`; ValueError if it is malformed or empty."""
    cpus: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            raise ValueError(f"{part!r} is not a CPU number or range like 2-3") from None
        if low < 0 or high < low:
            raise ValueError(f"{part!r} is not a CPU number or range like 2-3")
        cpus.update(range(low, high + 1))
    if not cpus:
        raise ValueError("names no CPU")
    return frozenset(cpus)


def available() -> frozenset[int]:
    """The CPUs this process may run on now; ValueError where affinity is not supported."""
    if not hasattr(os, "sched_getaffinity"):
        raise ValueError("CPU affinity is not supported on this platform (Linux only)")
    return frozenset(os.sched_getaffinity(0))


def pin(cpus: frozenset[int]) -> None:
    """Every thread of this process, and so every thread it starts later, on `cpus`."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except ProcessLookupError:  # the thread ended meanwhile
            continue
