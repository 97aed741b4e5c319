"""Command line: ``python -m load_tests run|bench|capacity ...``.

``run`` exits 0 when the run completed (whatever it measured), 2 on bad
arguments; ``bench`` exits 0 when it wrote its results, even if some runs
failed (they are recorded as failed); so does ``capacity`` (the capacity
model, docs/capacity.md), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

from load_tests.bot import DEFAULT_GAME, SwarmConfig, registered_games, resolve_game
from load_tests.display import LiveProgress, print_summary
from load_tests.runner import RunConfig, run


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", action="append", required=True, metavar="URL",
                   help="server base URL, e.g. http://127.0.0.1:8000 (repeat to alternate "
                        "bots between several server processes)")
    p.add_argument("--sticky", action="store_true",
                   help="with several --url: all players of a room use the same one (as a "
                        "balancer hashing the room URL does) instead of alternating")
    p.add_argument("--game", default=DEFAULT_GAME, metavar="ID",
                   help="the game the bots play (engine.registry id: "
                        f"{', '.join(registered_games())}; default {DEFAULT_GAME}); rooms of "
                        "another game than the default are asked for with POST /api/rooms "
                        "{\"game\"} or ?game=<id>")
    p.add_argument("--rooms", type=int, default=1)
    p.add_argument("--players-per-room", type=int, default=20)
    p.add_argument("--duration", type=float, default=30.0, help="measurement window, seconds")
    p.add_argument("--matchmake", action="store_true",
                   help="join via POST /api/matchmake instead of named rooms")
    p.add_argument("--spectators", type=int, default=0, help="extra ?spectate=1 sockets")
    p.add_argument("--chatty", type=float, default=0.0, metavar="F",
                   help="fraction of players who chat now and then")
    p.add_argument("--reconnect", type=float, default=0.0, metavar="F",
                   help="fraction of players who drop their socket mid-window and reconnect")
    p.add_argument("--processes", type=int, default=1, help="bot processes (1 = this one)")
    p.add_argument("--room-prefix", default="load", help="room names are <prefix>-<n>")
    p.add_argument("--no-auth", action="store_true",
                   help="skip POST /api/session/guest (servers without /api)")
    p.add_argument("--track-fraction", type=float, default=0.1,
                   help="fraction of players who decode state and chase opponents")
    p.add_argument("--connect-concurrency", type=int, default=50)
    p.add_argument("--ramp-timeout", type=float, default=0.0,
                   help="seconds to connect everyone (0 = 20 + bots/25)")
    p.add_argument("--server-pid", type=int, action="append", default=[],
                   help="a local server pid whose /proc CPU time to report (repeatable)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path, metavar="OUT", help="write the JSON report here")
    p.add_argument("--plot", type=Path, metavar="OUT", help="write a PNG plot here")
    p.add_argument("--quiet", action="store_true", help="no progress display, no summary")


class UsageError(Exception):
    """A bad ``run`` argument: the CLI prints it and exits 2."""


def config_from_args(a: argparse.Namespace) -> RunConfig:
    """Build the :class:`RunConfig` of parsed ``run`` arguments; :class:`UsageError`."""
    for u in a.url:
        parts = urlsplit(u)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--url must be http(s)://host[:port], got {u!r}")
    if a.rooms < 1 or a.players_per_room < 1 or a.duration <= 0:
        raise UsageError("--rooms, --players-per-room and --duration must be positive")
    for name in ("chatty", "reconnect", "track_fraction"):
        if not 0.0 <= getattr(a, name) <= 1.0:
            raise UsageError(f"--{name.replace('_', '-')} is a fraction in [0, 1]")
    try:
        definition, _ = resolve_game(a.game)
    except ValueError as exc:
        raise UsageError(f"--game: {exc}") from None
    seats = definition.default_config().max_players
    if a.players_per_room > seats and not a.matchmake:
        print(f"python -m load_tests run: warning: {a.game} seats {seats} players per room by "
              f"default; the other {a.players_per_room - seats} of each room will be refused "
              "(error_room_full) unless the server seats more", file=sys.stderr)
    sc = SwarmConfig(
        urls=list(a.url), rooms=a.rooms, players_per_room=a.players_per_room,
        duration=a.duration, matchmake=a.matchmake, spectators=a.spectators,
        chatty=a.chatty, reconnect=a.reconnect, room_prefix=a.room_prefix,
        no_auth=a.no_auth, track_fraction=a.track_fraction,
        connect_concurrency=a.connect_concurrency, ramp_timeout=a.ramp_timeout, seed=a.seed,
        sticky=a.sticky, game=a.game,
    )
    return RunConfig(swarm=sc, processes=max(1, a.processes), server_pids=list(a.server_pid))


def cmd_run(a: argparse.Namespace) -> int:
    try:
        cfg = config_from_args(a)
    except UsageError as exc:
        print(f"python -m load_tests run: error: {exc}", file=sys.stderr)
        return 2
    live = not a.quiet and sys.stdout.isatty()
    with LiveProgress(live, cfg.swarm.total_bots, cfg.swarm.duration) as progress:
        result = run(cfg, progress.update if live else None)
    print_summary(result.report, a.quiet)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result.report, indent=2) + "\n")
    if a.plot:
        from load_tests.plot import write_plot

        write_plot(result.measurements, result.report, a.plot)
    if a.quiet and not a.json:
        print(json.dumps(result.report))
    return 0


def cmd_joins(a: argparse.Namespace) -> int:
    from load_tests.joins import join_storm

    try:
        report = asyncio.run(join_storm(a.url, a.count, a.concurrency, a.players_per_room,
                                        a.room_prefix, a.server_pid))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2) + "\n"
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(text)
    else:
        print(text, end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m load_tests",
                                description="Arena load tests: bots and benchmarks.")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run bots against a server and report")
    _add_run_args(r)
    j = sub.add_parser("joins", help="a join storm: guest sessions and sockets to welcome "
                                     "per second (load_tests/joins.py)")
    j.add_argument("--url", required=True, help="the server's base http:// URL")
    j.add_argument("--count", type=int, default=400, help="sessions, then sockets (400)")
    j.add_argument("--concurrency", type=int, default=50, help="clients in flight (50)")
    j.add_argument("--players-per-room", type=int, default=20)
    j.add_argument("--room-prefix", default="joins")
    j.add_argument("--server-pid", type=int, help="a local server's pid: CPU ms per join")
    j.add_argument("--json", type=Path, help="write the report here instead of stdout")
    b = sub.add_parser("bench", help="the comparative benchmark (make bench)")
    b.add_argument("--quick", action="store_true", help="a much smaller workload, for trying")
    b.add_argument("--out", type=Path, default=Path("bench/results.json"))
    b.add_argument("--docs", type=Path, default=Path("docs/benchmarks.md"),
                   help="markdown file whose generated tables are regenerated")
    b.add_argument("--only", action="append", default=[],
                   help="run only these runs (reference, project, project-norec, textbook, "
                        "redis, redis-sticky, recording, engine, lobby, joins, joins-pg, "
                        "paddle, paddle-reference, paddle-project); repeatable. recording = "
                        "recording off and on at full size, five of each in turns; "
                        "joins = the join storm against reference and project; "
                        "joins-pg = the project's on a scratch database on the PostgreSQL server "
                        "DATABASE_URL names. "
                        "paddle = the paddle workload against reference and project")
    b.add_argument("--quiet", action="store_true")
    c = sub.add_parser("capacity", help="measure this machine and model 10k/100k players "
                                        "(make capacity, docs/capacity.md)")
    from load_tests.capacity import add_args

    add_args(c)
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if a.cmd == "run":
        return cmd_run(a)
    if a.cmd == "capacity":
        from load_tests.capacity import main_capacity

        return main_capacity(a)
    if a.cmd == "joins":
        return cmd_joins(a)
    from load_tests.bench import main_bench

    return main_bench(a)
