"""``make bench``: the same workload against each server, one after the other.

Runs (each recorded even when it fails; a failure never stops the bench):

* ``reference``: :mod:`load_tests.reference_server` (the yardstick);
* ``project``: one daphne process, embedded (in-process) fan-out;
* ``project-norec``: the same with ``REPLAY_RECORDING=0`` (no match recording),
  so ``--only project --only project-norec`` compares recording on and off in
  one invocation;
* ``textbook``: the same with the textbook game consumer (load_tests/textbook.py; one channel-layer
  message per player per tick, the pattern the project replaces);
* ``redis``: two daphne processes on ``REDIS_URL`` (given, or a private
  ``redis-server`` on a free loopback port), bots alternating between them;
* ``engine``: ``python -m load_tests.engine_bench --json <file>``;
* ``lobby``: the lobby chat burst of :mod:`load_tests.lobby_burst` (its sockets
  over :data:`LOBBY_READERS` processes), on SQLite, and again on a scratch
  PostgreSQL database when ``DATABASE_URL`` names a server;
* ``joins``: a join storm (:mod:`load_tests.joins`: guest sessions per second,
  then game sockets to ``welcome`` per second, at :data:`JOIN_CONCURRENCY`
  clients) against the reference server and the project (SQLite); the
  ``joins`` table also shows how long all bots of each 1,000-player game run
  took to connect. ``joins-pg`` is the project's storm on PostgreSQL: a scratch
  database on the server ``DATABASE_URL`` names (dropped after), skipped when unset;
* ``paddle``: a short workload of the second game (:data:`PADDLE`), reference
  and project, after everything else so the arena's runs are measured as
  before. Its bots ask for paddle rooms (``--game paddle``); a server that
  cannot host them (no bot welcomed into a paddle room) is a failed row.
  ``--only paddle`` runs both, ``--only paddle-reference`` or
  ``--only paddle-project`` one; ``--only reference`` is the arena's run only.

Bots run in a separate process (``python -m load_tests run``) and report; the
server's CPU seconds over the measurement window come from ``/proc/<pid>``
(``--server-pid``). Results go to ``bench/results.json`` and the generated
tables of ``docs/benchmarks.md`` (between ``<!-- bench:*:start -->`` and
``<!-- bench:*:end -->`` markers) are rewritten from them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from load_tests.http import request

ROOT = Path(__file__).resolve().parent.parent
GAME_RUNS = ("reference", "project", "project-norec", "textbook", "redis", "redis-sticky")
PROJECT_APP = "gameserver.asgi:application"
APPLICATIONS = {"textbook": "load_tests.textbook:application"}
"""The ASGI application each project run serves (default PROJECT_APP)."""
RUN_ENV = {"project-norec": {"REPLAY_RECORDING": "0"}}
"""Settings a project run changes (environment variables)."""
PADDLE_RUNS = ("reference", "project")
"""The servers the paddle workload runs against."""
JOIN_RUNS = ("reference", "project", "project-pg")
"""The servers of the join storm (``project-pg``: the ``joins-pg`` run)."""
ALL_RUNS = (*GAME_RUNS, "recording", "engine", "lobby", "joins", "joins-pg", "paddle",
            *(f"paddle-{n}" for n in PADDLE_RUNS))
RECORDING_ORDER = ("project-norec", "project", "project", "project-norec", "project-norec",
                   "project", "project", "project-norec", "project-norec", "project")
"""The ``recording`` run: recording off and on in turns (ABBAABBAAB), each on a fresh server.

At 1,000 players one process is at the edge of its core, where one run's
delivery and p99 move by more than the 5 % the comparison is about; the
medians of five of each, taken in turns, are what it reports."""
SECRET = "bench-secret-key-0123456789abcdef0123456789"
LOBBY_READERS = 2
"""Processes that send the chat burst and read its copies (400,000 frames at full size)."""


@dataclass(frozen=True)
class Workload:
    rooms: int
    players_per_room: int
    duration: float
    lobby_clients: int
    lobby_messages: int
    game: str = "arena"

    @property
    def ccu(self) -> int:
        return self.rooms * self.players_per_room

    @property
    def tag(self) -> str:
        """Names this workload's rooms and files (the arena's as they always were)."""
        return str(self.ccu) if self.game == "arena" else f"{self.game}-{self.ccu}"


FULL = Workload(rooms=50, players_per_room=20, duration=30.0, lobby_clients=200,
                lobby_messages=2000)
QUICK = Workload(rooms=5, players_per_room=10, duration=5.0, lobby_clients=20,
                 lobby_messages=100)
SIZED = Workload(rooms=20, players_per_room=20, duration=12.0, lobby_clients=0,
                 lobby_messages=0)
"""A game load this 2-core machine can carry with the bots beside the server: at
FULL scale even the reference server saturates its core, so ratios are read here."""
JOIN_COUNT, JOIN_CONCURRENCY = 400, 50
"""A join storm: this many guest sessions, then as many game sockets, this many at a time."""
JOIN_QUICK = (60, 10)
PADDLE = Workload(rooms=20, players_per_room=4, duration=20.0, lobby_clients=0,
                  lobby_messages=0, game="paddle")
"""The second game: 80 players in 4-player rooms, 60 Hz ticks, 30 Hz snapshots and inputs."""
PADDLE_QUICK = Workload(rooms=4, players_per_room=2, duration=5.0, lobby_clients=0,
                        lobby_messages=0, game="paddle")


def workload_dict(wl: Workload) -> dict[str, Any]:
    """How a game workload is recorded in results.json (the arena's keys as before)."""
    if wl.game == "arena":
        return {"rooms": wl.rooms, "players_per_room": wl.players_per_room,
                "duration": wl.duration, "tick_rate": 20}
    from load_tests.bot import resolve_game

    definition, policy = resolve_game(wl.game)
    config = definition.default_config()
    return {"game": wl.game, "rooms": wl.rooms, "players_per_room": wl.players_per_room,
            "duration": wl.duration, "tick_rate": config.tick_rate,
            "snapshot_rate": config.snapshot_rate, "input_rate": policy.input_rate}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10)
        if out.returncode == 0:
            commit = out.stdout.strip()
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": commit,
    }


# -- server processes ---------------------------------------------------------------


class Proc:
    """A child process we started; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = open(log, "wb")  # closed in stop()
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()

    def tail(self, n: int = 1500) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-n:]
        return ""


def wait_healthy(url: str, proc: Proc, timeout: float = 60.0) -> None:
    """Poll ``GET /healthz`` until 200 (the process is not ours to await)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"server exited with {proc.popen.returncode}: {proc.tail()}")
        try:
            resp = asyncio.run(request("GET", url + "/healthz", timeout=2.0))
            if resp.status == 200:
                return
        except (OSError, TimeoutError, ValueError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not healthy after {timeout}s: {proc.tail()}")


def project_env(db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update({
        "DJANGO_SETTINGS_MODULE": "gameserver.settings",
        "DATABASE_URL": f"sqlite:///{db}",
        "SECRET_KEY": SECRET,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # The bench measures fan-out, not the abuse limits: lift them.
        "GUEST_RATE_PER_MINUTE": "100000",
        "MATCHMAKE_RATE_PER_MINUTE": "100000",
        "CHAT_RATE_COUNT": "1000",
        "LOBBY_FRAMES_PER_SECOND": "1000",
        "LOBBY_FRAME_BURST": "100000",
    })
    env.update(extra)
    return env


@contextlib.contextmanager
def servers(kind: str, tmp: Path, redis_url: str | None = None,
            database_url: str | None = None) -> Iterator[tuple[list[str], list[Proc]]]:
    """Start the servers of one run; yield (base URLs, processes); stop them after.

    The project's database is a new SQLite file unless ``database_url`` names one.
    """
    procs: list[Proc] = []
    try:
        if kind == "reference":
            port = free_port()
            procs.append(Proc([sys.executable, "-m", "load_tests.reference_server",
                               "--host", "127.0.0.1", "--port", str(port)],
                              dict(os.environ), tmp / "reference.log"))
            urls = [f"http://127.0.0.1:{port}"]
        else:
            db = tmp / f"{kind}.sqlite3"
            extra: dict[str, str] = dict(RUN_ENV.get(kind, {}))
            if redis_url:
                extra["REDIS_URL"] = redis_url
            if database_url:
                extra["DATABASE_URL"] = database_url
            env = project_env(db, **extra)
            mig = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                                 cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            if mig.returncode != 0:
                raise RuntimeError(f"manage.py migrate failed: {mig.stderr[-1500:]}")
            urls = []
            for i in range(2 if kind == "redis" else 1):
                port = free_port()
                # The project as it is started (gameserver/serve.py: on uvloop); the
                # textbook pattern as the Channels docs start it (plain daphne).
                launcher = "daphne" if kind in APPLICATIONS else "gameserver.serve"
                procs.append(Proc([sys.executable, "-m", launcher, "-b", "127.0.0.1",
                                   "-p", str(port), APPLICATIONS.get(kind, PROJECT_APP)], env,
                                  tmp / f"{kind}-{i}.log"))
                urls.append(f"http://127.0.0.1:{port}")
        for u, p in zip(urls, procs, strict=True):
            wait_healthy(u, p)
        yield urls, procs
    finally:
        for p in procs:
            p.stop()


@contextlib.contextmanager
def redis_for_bench(tmp: Path) -> Iterator[str | None]:
    """``REDIS_URL`` if set, else a private redis-server on a free port, else None."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    proc = Proc([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                 "--appendonly", "no"], dict(os.environ), tmp / "redis.log")
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.stop()


# -- runs -----------------------------------------------------------------------------


def run_bots(name: str, urls: list[str], pids: list[int], wl: Workload, tmp: Path,
             no_auth: bool, sticky: bool = False) -> dict[str, Any]:
    """``python -m load_tests run`` in a separate process; returns its JSON report."""
    # Each workload plays in rooms of its own: a server (and its database) may
    # serve several workloads in one bench.
    out = tmp / f"{name}-{wl.tag}.json"
    args = [sys.executable, "-m", "load_tests", "run", "--rooms", str(wl.rooms),
            "--players-per-room", str(wl.players_per_room), "--duration", str(wl.duration),
            "--room-prefix", f"{name}-{wl.tag}", "--quiet", "--json", str(out),
            "--chatty", "0.05"]
    if wl.game != "arena":
        args += ["--game", wl.game]
    for u in urls:
        args += ["--url", u]
    if sticky:
        args.append("--sticky")
    for p in pids:
        args += ["--server-pid", str(p)]
    if no_auth:
        args.append("--no-auth")
    timeout = 20 + wl.ccu / 25 + wl.duration + 120
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"bots exited {done.returncode}: {done.stderr[-1500:]}")
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def game_run(name: str, wl: Workload, tmp: Path, redis_url: str | None) -> dict[str, Any]:
    started = time.monotonic()
    rec: dict[str, Any] = {"name": name, "ok": False, "error": None, "report": None}
    try:
        on_redis = name.startswith("redis")
        if on_redis and not redis_url:
            rec["error"] = "skipped: no REDIS_URL and no redis-server on PATH"
            return rec
        kind = "redis" if on_redis else name
        with servers(kind, tmp, redis_url if on_redis else None) as (urls, procs):
            rep = rec["report"] = run_bots(name, urls, [p.pid for p in procs], wl, tmp,
                                           no_auth=name == "reference",
                                           sticky=name == "redis-sticky")
            if not rep.get("ccu"):
                # Nothing was measured: say why instead of a row of zeros.
                errs = ", ".join(f"{k}: {v}" for k, v in (rep.get("errors") or {}).items())
                rec["error"] = (f"no bot was welcomed into a {wl.game} room "
                                f"({errs or 'no errors counted'})")
            else:
                rec["ok"] = True
    except Exception as exc:  # a failed run is recorded, never fatal
        rec["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        rec["elapsed_s"] = round(time.monotonic() - started, 1)
    return rec


def engine_run(tmp: Path) -> dict[str, Any]:
    import importlib.util

    if importlib.util.find_spec("load_tests.engine_bench") is None:
        return {"ok": False, "error": "skipped: load_tests/engine_bench.py is missing"}
    out = tmp / "engine.json"
    try:
        done = subprocess.run([sys.executable, "-m", "load_tests.engine_bench", "--json",
                               str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            return {"ok": False, "error": done.stderr[-1500:]}
        data = json.loads(out.read_text()) if out.exists() else json.loads(done.stdout)
        return {"ok": True, "error": None, "report": data}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}


@contextlib.contextmanager
def scratch_postgres(url: str, prefix: str = "arena_bench") -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of ``url`` (dropped after); its URL.

    Never the database ``url`` names: a benchmark's or a live test's servers
    write to a database of their own. The tests use this too (tests/servers.py).
    """
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    server, _, _ = url.rpartition("/")

    def admin(statement: str) -> None:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(name)))

    admin("CREATE DATABASE {}")
    try:
        yield f"{server}/{name}"
    finally:
        admin("DROP DATABASE IF EXISTS {} WITH (FORCE)")


def lobby_run(wl: Workload, tmp: Path) -> dict[str, Any]:
    """The chat burst on SQLite, and on PostgreSQL when ``DATABASE_URL`` names one.

    ``{"sqlite": record, "postgresql": record}``; the PostgreSQL run gets a
    scratch database on that server, never the one ``DATABASE_URL`` names.
    """
    from load_tests.lobby_burst import lobby_burst

    def one(database_url: str | None) -> dict[str, Any]:
        try:
            with servers("project", tmp, database_url=database_url) as (urls, procs):
                rep = asyncio.run(lobby_burst(urls[0], wl.lobby_clients, wl.lobby_messages,
                                              server_pid=procs[0].pid, readers=LOBBY_READERS))
            return {"ok": True, "error": None, "report": rep}
        except Exception as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}

    runs = {"sqlite": one(None)}
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        try:
            with scratch_postgres(url) as scratch:
                runs["postgresql"] = one(scratch)
        except Exception as exc:
            runs["postgresql"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
    return runs


def join_run(server: str, tmp: Path, count: int, concurrency: int) -> dict[str, Any]:
    """One join storm against ``server`` (of :data:`JOIN_RUNS`); a failure is recorded."""
    from load_tests.joins import join_storm

    rec: dict[str, Any] = {"ok": False, "error": None, "report": None}
    database_url = None
    if server == "project-pg":
        database_url = os.environ.get("DATABASE_URL", "")
        if not database_url.startswith(("postgres://", "postgresql://")):
            rec["error"] = "skipped: DATABASE_URL names no PostgreSQL database"
            return rec
    try:
        kind = "reference" if server == "reference" else "project"
        with contextlib.ExitStack() as stack:
            if database_url:  # a scratch database on that server, never the one it names
                database_url = stack.enter_context(scratch_postgres(database_url))
            urls, procs = stack.enter_context(servers(kind, tmp, database_url=database_url))
            prefix = f"joins-{server}-{int(time.time())}"
            rep = rec["report"] = asyncio.run(join_storm(
                urls[0], count, concurrency, prefix=prefix, server_pid=procs[0].pid))
        rec["ok"] = bool(rep["sockets"]["welcomed"])
        if not rec["ok"]:
            rec["error"] = f"no socket was welcomed ({rep['errors'] or 'no errors counted'})"
    except Exception as exc:  # a failed run is recorded, never fatal
        rec["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    return rec


def join_runs(names: list[str], tmp: Path, quick: bool,
              say: Callable[[str], None]) -> dict[str, Any]:
    """The join storms of ``names`` (of :data:`JOIN_RUNS`); ``{"count", "concurrency", "runs"}``."""
    count, concurrency = JOIN_QUICK if quick else (JOIN_COUNT, JOIN_CONCURRENCY)
    out: dict[str, Any] = {"count": count, "concurrency": concurrency, "runs": {}}
    for name in names:
        say(f"bench: joins {name} ({count} sessions and sockets, {concurrency} at a time)…")
        rec = out["runs"][name] = join_run(name, tmp, count, concurrency)
        rep = rec.get("report") or {}
        say(f"bench: joins {name}: " + (
            f"sessions {rep['sessions'].get('per_s')}/s, sockets "
            f"{rep['sockets'].get('per_s')}/s" if rec["ok"] else f"FAILED {rec['error'][:300]}"))
    return out


def render_joins(results: dict[str, Any]) -> str:
    """The ``joins`` block: each server's join storm, and the ramp of its 1,000-player run."""
    joins = results.get("joins")
    if not joins:
        return "Not measured: not run."
    wl = results.get("workload", {})
    players = (wl.get("rooms") or 0) * (wl.get("players_per_room") or 0)
    runs = results.get("runs", {})
    lines = [
        f"Join storm: {joins['count']} guest sessions, then {joins['count']} game sockets "
        f"({joins['concurrency']} clients at a time, 20 to a room, every welcomed socket "
        f"staying); server CPU from `/proc`. Last column: how long all {players} bots of "
        "the game run above took to connect (guest session and socket each; the "
        "reference server has no sessions).",
        "",
        "| server | guest sessions / s | session p50 / p99 ms | server CPU ms / session "
        "| sockets to welcome / s | welcome p50 / p99 ms | server CPU ms / socket "
        f"| all {players} bots connected in s | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in JOIN_RUNS:
        rec = joins["runs"].get(name)
        if rec is None:
            continue
        rep = rec.get("report")
        if not rec.get("ok") or not rep:
            err = str(rec.get("error") or "failed").splitlines()[0][:120].replace("|", "/")
            lines.append(f"| {name} | {'' if err.startswith('skipped') else 'failed: '}{err} |"
                         + " |" * 7)
            continue
        ses, sock = rep["sessions"], rep["sockets"]
        game = (runs.get(name) or {}).get("report") or {}
        ramp = (f"{_f(game.get('connect_s'))} ({game.get('ccu')} welcomed)"
                if game.get("connect_s") is not None else "–")
        if ses.get("applies"):
            session_cells = (f"{_f(ses['per_s'])} | {_f(ses['latency_ms']['p50'])} / "
                             f"{_f(ses['latency_ms']['p99'])} | {_f(ses['server_cpu_ms_each'], 2)}")
        else:
            session_cells = "n/a | – | –"
        errs = ", ".join(f"{k}: {v}" for k, v in (rep.get("errors") or {}).items()) or "none"
        lines.append(
            f"| {name} | {session_cells} | {_f(sock['per_s'])} "
            f"| {_f(sock['latency_ms']['p50'])} / {_f(sock['latency_ms']['p99'])} "
            f"| {_f(sock['server_cpu_ms_each'], 2)} | {ramp} | {errs[:160]} |")
    return "\n".join(lines)


# -- tables ---------------------------------------------------------------------------


def cpu_us_per_snapshot(report: dict[str, Any] | None) -> float | None:
    """Server CPU µs per delivered snapshot (``/proc`` CPU if known, else /metrics CPU)."""
    if not report or not report.get("server") or not report.get("snaps_received"):
        return None
    srv = report["server"]
    cpu = srv.get("proc_cpu_s")
    if cpu is None:
        cpu = srv.get("cpu_s")
    if cpu is None:
        return None
    return float(cpu) * 1e6 / float(report["snaps_received"])


def _f(v: Any, digits: int = 1, suffix: str = "") -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}{suffix}"
    return f"{v}{suffix}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def _workload_text(wl: dict[str, Any]) -> str:
    game = wl.get("game")
    if game in (None, "arena"):
        return (f"{wl.get('rooms')} rooms × {wl.get('players_per_room')} players at 20 Hz "
                f"for {wl.get('duration')} s")
    return (f"{game}, {wl.get('rooms')} rooms × {wl.get('players_per_room')} players, "
            f"{wl.get('tick_rate')} Hz ticks, {wl.get('snapshot_rate')} Hz snapshots, inputs "
            f"at {_f(wl.get('input_rate'), 0)} Hz, for {wl.get('duration')} s")


def render_tables(results: dict[str, Any],
                  run_names: tuple[str, ...] = GAME_RUNS) -> dict[str, str]:
    """Markdown for each marker block: ``game``, ``engine``, ``lobby``."""
    runs: dict[str, Any] = results.get("runs", {})
    wl = results.get("workload", {})
    m = results.get("machine", {})
    ref = (runs.get("reference") or {}).get("report")
    lines = [
        f"Generated by `make bench` on {m.get('date')} — {m.get('cpu_model')}, "
        f"{m.get('cores')} cores, Python {m.get('python')}, commit "
        f"`{(m.get('git_commit') or 'uncommitted')[:12]}`. Workload: {_workload_text(wl)}"
        f"{' (quick)' if results.get('quick') else ''}.",
        "",
        "Headline, relative to the reference server (1.00× = as good as raw `websockets`), "
        "and server CPU per delivered snapshot relative to `project` (the same rooms on one "
        "process)" + (": `redis` splits every room across two processes (bots alternate), "
                      "`redis-sticky` keeps each room's players on one"
                      if "redis" in runs else "") + ":",
        "",
        "| run | delivery vs ref | p99 ack latency vs ref | server CPU per delivered snapshot "
        "vs ref | CPU per snapshot vs project |",
        "| --- | --- | --- | --- | --- |",
    ]
    one = (runs.get("project") or {}).get("report")
    for name in run_names:
        rec = runs.get(name)
        if rec is None:
            continue
        rep = rec.get("report")
        if not rec.get("ok") or not rep:
            lines.append(f"| {name} | failed | – | – | – |")
            continue
        lines.append(
            f"| {name} | {_ratio(rep.get('delivery_ratio'), (ref or {}).get('delivery_ratio'))} "
            f"| {_ratio(rep['ack_latency_ms'].get('p99'), (ref or {}).get('ack_latency_ms', {}).get('p99'))} "  # noqa: E501
            f"| {_ratio(cpu_us_per_snapshot(rep), cpu_us_per_snapshot(ref))} "
            f"| {_ratio(cpu_us_per_snapshot(rep), cpu_us_per_snapshot(one))} |")
    lines += [
        "",
        "| run | CCU | delivered | ack p50 / p99 ms | rtt p99 ms | snapshot gap p99 / max ms "
        "| B/snapshot | server CPU s | CPU µs/snapshot | tick p99 ms | bot CPU s | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in run_names:
        rec = runs.get(name)
        if rec is None:
            continue
        rep = rec.get("report")
        if not rec.get("ok") or not rep:
            err = str(rec.get("error") or "failed").splitlines()[0][:120].replace("|", "/")
            lines.append(f"| {name} | failed: {err} |" + " |" * 11)
            continue
        srv = rep.get("server") or {}
        cpu = srv.get("proc_cpu_s", srv.get("cpu_s"))
        tick = (srv.get("tick_ms") or {}).get("p99")
        errs = ", ".join(f"{k}: {v}" for k, v in (rep.get("errors") or {}).items()) or "none"
        lines.append(
            f"| {name} | {rep['ccu']} | {_f(100 * (rep['delivery_ratio'] or 0.0))} % "
            f"| {_f(rep['ack_latency_ms']['p50'])} / {_f(rep['ack_latency_ms']['p99'])} "
            f"| {_f(rep['rtt_ms']['p99'])} "
            f"| {_f(rep['snap_interval_ms']['p99'])} / {_f(rep['snap_interval_ms']['max'])} "
            f"| {_f(rep['bytes_per_snapshot'])} | {_f(cpu, 2)} "
            f"| {_f(cpu_us_per_snapshot(rep))} | {_f(tick, 2)} | {_f(rep['bot_cpu_s'], 2)} "
            f"| {errs[:160]} |")
    eng = results.get("engine") or {}
    if eng.get("ok"):
        erep = eng.get("report") or {}
        flat = {k: v for k, v in erep.items() if not isinstance(v, dict | list)}
        engine_md = "| figure | value |\n| --- | --- |\n" + "\n".join(
            f"| {k} | {_f(v, 3)} |" for k, v in flat.items())
    else:
        engine_md = f"Not measured: {eng.get('error') or 'not run'}."
    lobby_md = lobby_table(results.get("lobby"))
    return {"game": "\n".join(lines), "engine": engine_md, "lobby": lobby_md}


def lobby_table(lobby: dict[str, Any] | None) -> str:
    """The chat burst's rows, one per database (``lobby_run``'s records)."""
    if lobby and "ok" in lobby:  # one run, as results.json kept it before PostgreSQL's
        lobby = {"sqlite": lobby}
    if not lobby:
        return "Not measured: not run."
    rows = [
        "| database | clients | messages | delivered / expected | latency p50 / p99 / max ms "
        "| burst sent in s | all delivered in s | stored | server CPU s | reader CPU s "
        "| stored in batches (messages each) | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for database, rec in lobby.items():
        r = rec.get("report")
        if not rec.get("ok") or not r:
            err = str(rec.get("error") or "failed").splitlines()[0][:120].replace("|", "/")
            rows.append(f"| {database} | failed: {err} |" + " |" * 10)
            continue
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "none"
        batches = r.get("server_batches") or {}
        rows.append(
            f"| {database} | {r['clients']} | {r['messages']} "
            f"| {r['delivered']} / {r['expected_deliveries']} | {_f(r['latency_ms']['p50'])} / "
            f"{_f(r['latency_ms']['p99'])} / {_f(r['latency_ms']['max'])} | {_f(r['send_s'], 2)} "
            f"| {_f(r['deliver_s'], 2)} | {r['stored']} / {r['messages']} "
            f"| {_f(r.get('server_cpu_s'), 2)} | {_f(r.get('reader_cpu_s'), 2)} "
            f"| {_f(batches.get('batches'))} "
            f"({_f(batches.get('messages_per_batch'))}) | {errors} |")
    return "\n".join(rows)


def _constant(text: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement that inserts ``text`` as is."""
    return lambda _match: text


def update_docs(doc: Path, blocks: dict[str, str], prefix: str = "bench") -> None:
    """Replace each ``<!-- <prefix>:<name>:start -->…<!-- <prefix>:<name>:end -->`` block."""
    if not doc.exists():
        return
    text = doc.read_text()
    for name, body in blocks.items():
        start, end = f"<!-- {prefix}:{name}:start -->", f"<!-- {prefix}:{name}:end -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            # A function: a replacement string would read backslashes in `body` as escapes.
            text = pattern.sub(_constant(f"{start}\n{body}\n{end}"), text)
    doc.write_text(text)


def paddle_runs(wl: Workload, names: list[str], tmp: Path,
                say: Callable[[str], None]) -> dict[str, Any]:
    """The second game's workload against the servers ``names`` (of
    :data:`PADDLE_RUNS`); ``{"workload", "runs"}``."""
    out: dict[str, Any] = {"workload": workload_dict(wl), "runs": {}}
    for name in names:
        say(f"bench: {name} {wl.game} ({wl.ccu} bots, {wl.duration:.0f} s)…")
        rec = game_run(name, wl, tmp, None)
        out["runs"][name] = rec
        rep = rec.get("report") or {}
        say(f"bench: {name} {wl.game}: " + (
            f"delivery {rep.get('delivery_ratio')}, ack p99 "
            f"{(rep.get('ack_latency_ms') or {}).get('p99')} ms" if rec["ok"]
            else f"FAILED {str(rec['error'])[:300]}"))
    return out


def recording_runs(wl: Workload, tmp: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Recording off and on in turns (:data:`RECORDING_ORDER`); every run and the medians."""
    runs: list[dict[str, Any]] = []
    for i, name in enumerate(RECORDING_ORDER, 1):
        say(f"bench: recording {i}/{len(RECORDING_ORDER)}: {name} ({wl.ccu} bots, "
            f"{wl.duration:.0f} s)…")
        rec = game_run(name, wl, tmp, None)
        runs.append(rec)
        rep = rec.get("report") or {}
        say(f"bench: recording {i}: " + (
            f"delivery {rep.get('delivery_ratio')}, ack p99 "
            f"{(rep.get('ack_latency_ms') or {}).get('p99')} ms" if rec["ok"]
            else f"FAILED {str(rec['error'])[:300]}"))
    return {"workload": workload_dict(wl), "runs": runs, "medians": recording_medians(runs)}


def recording_medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per server name: the median delivery, ack p99 and CPU per snapshot of its good runs."""
    medians: dict[str, dict[str, float | None]] = {}
    for name in dict.fromkeys(r["name"] for r in runs):
        reps = [r["report"] for r in runs if r["name"] == name and r["ok"] and r["report"]]
        medians[name] = {
            "delivery_ratio": _median([r.get("delivery_ratio") for r in reps]),
            "ack_p99_ms": _median([r["ack_latency_ms"].get("p99") for r in reps]),
            "cpu_us_per_snapshot": _median([cpu_us_per_snapshot(r) for r in reps]),
        }
    return medians


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def render_recording(results: dict[str, Any]) -> str:
    """The ``recording`` block: each run in order, then the medians and on/off ratios."""
    data = results["recording"]
    lines = [
        f"Workload: {_workload_text(data['workload'])}; recording off (`project-norec`) and on "
        "(`project`) in turns, each on a fresh server.",
        "",
        "| # | run | delivered | ack p50 / p99 ms | server CPU s | CPU µs/snapshot |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i, rec in enumerate(data["runs"], 1):
        rep = rec.get("report")
        if not rec.get("ok") or not rep:
            err = str(rec.get("error") or "failed").splitlines()[0][:120].replace("|", "/")
            lines.append(f"| {i} | {rec['name']} | failed: {err} | | | |")
            continue
        srv = rep.get("server") or {}
        lines.append(
            f"| {i} | {rec['name']} | {_f(100 * (rep['delivery_ratio'] or 0.0), 2)} % "
            f"| {_f(rep['ack_latency_ms']['p50'])} / {_f(rep['ack_latency_ms']['p99'])} "
            f"| {_f(srv.get('proc_cpu_s', srv.get('cpu_s')), 2)} "
            f"| {_f(cpu_us_per_snapshot(rep))} |")
    off, on = data["medians"].get("project-norec", {}), data["medians"].get("project", {})
    lines += [
        "",
        "| median of each | delivered | ack p99 ms | CPU µs/snapshot |",
        "| --- | --- | --- | --- |",
    ]
    for label, m in (("recording off", off), ("recording on", on)):
        lines.append(f"| {label} | {_f(100 * (m.get('delivery_ratio') or 0.0), 2)} % "
                     f"| {_f(m.get('ack_p99_ms'))} | {_f(m.get('cpu_us_per_snapshot'))} |")
    keys = ("delivery_ratio", "ack_p99_ms", "cpu_us_per_snapshot")
    lines.append("| on / off | " + " | ".join(_ratio(on.get(k), off.get(k)) for k in keys)
                 + " |")
    return "\n".join(lines)


def main_bench(a: argparse.Namespace) -> int:
    """Run the bench; write ``a.out`` and regenerate ``a.docs``. Returns 0."""
    wl = QUICK if a.quick else FULL
    selected = [r for r in ALL_RUNS if not a.only or r in a.only]
    results: dict[str, Any] = {
        "machine": machine(),
        "quick": bool(a.quick),
        "workload": {"rooms": wl.rooms, "players_per_room": wl.players_per_room,
                     "duration": wl.duration, "tick_rate": 20,
                     "lobby_clients": wl.lobby_clients, "lobby_messages": wl.lobby_messages},
        "runs": {},
        "engine": None,
        "lobby": None,
    }

    def say(msg: str) -> None:
        if not a.quiet:
            print(msg, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="arena-bench-") as tmpdir:
        tmp = Path(tmpdir)
        with redis_for_bench(tmp) as redis_url:
            for name in GAME_RUNS:
                if name not in selected:
                    continue
                say(f"bench: {name} ({wl.ccu} bots, {wl.duration:.0f} s)…")
                rec = game_run(name, wl, tmp, redis_url)
                results["runs"][name] = rec
                rep = rec.get("report") or {}
                say(f"bench: {name}: " + (f"delivery {rep.get('delivery_ratio')}, ack p99 "
                                          f"{(rep.get('ack_latency_ms') or {}).get('p99')} ms"
                                          if rec["ok"] else f"FAILED {rec['error'][:300]}"))
        if "engine" in selected:
            say("bench: engine…")
            results["engine"] = engine_run(tmp)
        if "lobby" in selected:
            say(f"bench: lobby chat burst ({wl.lobby_clients} clients, "
                f"{wl.lobby_messages} messages)…")
            results["lobby"] = lobby_run(wl, tmp)
            for database, rec in results["lobby"].items():
                say(f"bench: lobby on {database}: {rec.get('report') or rec['error']}")
        if not a.quick:
            sized: dict[str, Any] = {
                "workload": {"rooms": SIZED.rooms, "players_per_room": SIZED.players_per_room,
                             "duration": SIZED.duration, "tick_rate": 20},
                "runs": {},
            }
            with redis_for_bench(tmp) as redis_url:
                for name in GAME_RUNS:
                    if name not in selected:
                        continue
                    say(f"bench: {name} ({SIZED.ccu} bots, {SIZED.duration:.0f} s)…")
                    rec = game_run(name, SIZED, tmp, redis_url)
                    sized["runs"][name] = rec
                    rep = rec.get("report") or {}
                    say(f"bench: {name}: delivery {rep.get('delivery_ratio')}")
            results["sized"] = sized
        join_servers = [n for n, run in (("reference", "joins"), ("project", "joins"),
                                         ("project-pg", "joins-pg")) if run in selected]
        if join_servers:
            results["joins"] = join_runs(join_servers, tmp, bool(a.quick), say)
        if "recording" in selected and not a.quick:
            results["recording"] = recording_runs(wl, tmp, say)
        paddle_servers = [n for n in PADDLE_RUNS
                          if not a.only or "paddle" in a.only or f"paddle-{n}" in a.only]
        if paddle_servers:
            results["paddle"] = paddle_runs(PADDLE_QUICK if a.quick else PADDLE,
                                            paddle_servers, tmp, say)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    blocks = render_tables(results)
    if results.get("sized"):
        blocks["game-sized"] = render_tables({**results, **results["sized"]})["game"]
    if results.get("paddle"):
        blocks["paddle"] = render_tables({**results, **results["paddle"]}, PADDLE_RUNS)["game"]
    if results.get("joins"):
        blocks["joins"] = render_joins(results)
    if results.get("recording"):
        blocks["recording"] = render_recording(results)
    update_docs(a.docs, blocks)
    say(f"bench: wrote {a.out} and {a.docs}")
    return 0
