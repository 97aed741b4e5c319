"""CPU_AFFINITY (gameserver/affinity.py): parsed and checked at start-up, and a server
process's threads, those before and those after, all on the CPUs it names."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gameserver import affinity, conf
from tests.servers import ROOT, server_env

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")


def _one_cpu() -> int:
    return min(os.sched_getaffinity(0))


@pytest.mark.parametrize(("spec", "cpus"), [
    ("1", {1}), ("0,2-3", {0, 2, 3}), (" 4 , 1-2 ,", {1, 2, 4}), ("3-3", {3}),
])
def test_a_cpu_list_parses(spec: str, cpus: set[int]) -> None:
    assert affinity.parse(spec) == cpus


@pytest.mark.parametrize("spec", ["one", "2-", "-1", "3-1", " , ", "1.5"])
def test_a_malformed_cpu_list_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        affinity.parse(spec)


def test_unset_leaves_the_process_where_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CPU_AFFINITY", raising=False)
    assert conf.load().cpu_set is None
    monkeypatch.setenv("CPU_AFFINITY", str(_one_cpu()))
    assert conf.load().cpu_set == frozenset({_one_cpu()})


@pytest.mark.parametrize("value", ["any", "1-0", "100000"])
def test_a_bad_or_missing_cpu_stops_start_up_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CPU_AFFINITY", value)
    with pytest.raises(conf.ConfigError, match="CPU_AFFINITY"):
        conf.load()


def _run(code: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_pin_moves_every_thread_and_the_threads_started_later() -> None:
    cpu = _one_cpu()
    out = _run(f"""
        import os, threading
        from gameserver import affinity
        release = threading.Event()
        before = threading.Thread(target=release.wait)
        before.start()
        affinity.pin(frozenset({{{cpu}}}))
        seen = []
        after = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
        after.start(); after.join()
        print(sorted(os.sched_getaffinity(0)), sorted(os.sched_getaffinity(before.native_id)),
              sorted(seen[0]))
        release.set()
    """)
    assert out == f"[{cpu}] [{cpu}] [{cpu}]"  # this thread, one started before, one after


def test_the_server_application_pins_its_process(tmp_path: Path) -> None:
    cpu = _one_cpu()
    env = server_env(tmp_path / "arena.sqlite3", {"CPU_AFFINITY": str(cpu)})
    out = _run("""
        import os
        import gameserver.asgi
        print(sorted(os.sched_getaffinity(0)))
    """, env)
    assert out == f"[{cpu}]"
    env.pop("CPU_AFFINITY")
    unpinned = _run("""
        import os
        import gameserver.asgi
        print(sorted(os.sched_getaffinity(0)))
    """, env)
    assert unpinned == str(sorted(os.sched_getaffinity(0)))
