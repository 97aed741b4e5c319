"""The one place that reads the process environment.

Every setting the server takes from the environment is declared here with its
type, bounds and default. `load()` validates all of them at once; a bad value
raises `ConfigError` whose message names the variable, so start-up stops with
a line an operator can act on. Django settings and the runtime get their
values from the returned `ServerConfig`, never from `os.environ`.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Literal

import dj_database_url
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gameserver import affinity

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


class ConfigError(Exception):
    """A setting from the environment is missing or malformed."""


PREPARE_THRESHOLD = 5
"""psycopg's default: a statement is prepared on a connection after this many runs there."""


class ServerConfig(BaseSettings):
    """Environment variables (upper-case names) and their defaults for a laptop."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    database_url: str = Field(default=f"sqlite:///{VAR_DIR / 'arena.sqlite3'}")
    database_prepared_statements: bool = True
    """PostgreSQL: server-side parameters, a statement run PREPARE_THRESHOLD times prepared."""
    redis_url: str | None = None
    secret_key: str | None = Field(default=None, min_length=32)
    secret_key_file: Path = VAR_DIR / "secret_key"
    debug: bool = False
    allowed_hosts: str = "127.0.0.1,localhost,[::1]"

    # Game runtime.
    tick_rate: int = Field(default=20, ge=1, le=120)
    snapshot_rate: int = Field(default=20, ge=1, le=120)
    max_players_per_room: int = Field(default=20, ge=1, le=200)
    max_rooms_per_process: int = Field(default=200, ge=1, le=100_000)
    room_idle_seconds: float = Field(default=60.0, gt=0, le=86_400)
    reconnect_grace_seconds: float = Field(default=30.0, ge=0, le=3_600)
    checkpoint_seconds: float = Field(default=1.0, gt=0, le=60)

    # Replays (engine/recording.py, lobby/replays.py, docs/operations.md).
    replay_recording: bool = True
    """Record every match (inputs and checksums) and store it when the match ends."""
    replay_retention_days: int = Field(default=30, ge=1, le=36_500)
    """Stored recordings (and their cached playback) older than this are deleted."""
    media_root: Path = VAR_DIR / "media"
    """Where Django's default file storage keeps files (recordings) on this disk."""

    # Room leases in Redis (gameserver/ownership.py, docs/scaling.md).
    lease_ttl_seconds: float = Field(default=1.5, ge=0.2, le=60)
    """A room's lease expires this long after its owner's last renewal (failover time)."""
    lease_renew_seconds: float = Field(default=0.5, ge=0.05, le=30)
    """How often an owner renews its leases; at most half of LEASE_TTL_SECONDS."""

    # Per-connection limits.
    max_frame_bytes: int = Field(default=4096, ge=64, le=1_048_576)
    max_frames_per_second: int = Field(default=60, ge=1, le=10_000)
    outbound_buffer_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)

    # Sockets below daphne's per-frame Python (gameserver/net/daphne.py, docs/sockets.md).
    socket_fast_path: Literal["auto", "off"] = "auto"
    """`auto`: the daphne adapter when its checks pass; `off`: plain ASGI for every socket."""
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    """The loop under daphne's reactor (gameserver/serve.py): `auto` is uvloop where it
    can be imported, else asyncio's standard loop."""

    # HTTP (gameserver/httphandler.py).
    http_threads: int = Field(default=8, ge=1, le=256)
    """On PostgreSQL: threads (each with one kept connection) that run HTTP requests."""

    # The server process (gameserver/affinity.py).
    cpu_affinity: str = ""
    """CPUs every thread of a server process runs on, like `1` or `0,2-3` (empty: any)."""

    # Lobby (lobby/): chat, presence, room list, matchmaking. See docs/lobby.md.
    chat_rate_count: int = Field(default=5, ge=1, le=1_000)
    """Chat messages a user may send per `chat_rate_seconds` (sliding window, all tabs)."""
    chat_rate_seconds: float = Field(default=5.0, gt=0, le=3_600)
    chat_batch_window_ms: float = Field(default=5.0, ge=0, le=1_000)
    """Chat messages accepted within this long of the first waiting one are stored together."""
    chat_batch_max: int = Field(default=100, ge=1, le=1_000)
    """At most this many chat messages per stored batch (one transaction, one insert)."""
    lobby_frames_per_second: float = Field(default=10.0, gt=0, le=10_000)
    """Sustained frames per second one lobby socket may send; past the burst it closes 4008."""
    lobby_frame_burst: int = Field(default=20, ge=1, le=100_000)
    lobby_max_frame_bytes: int = Field(default=4096, ge=256, le=1_048_576)
    """A lobby frame larger than this closes the socket with 1009."""
    presence_heartbeat_seconds: float = Field(default=15.0, gt=0, le=3_600)
    presence_ttl_seconds: float = Field(default=45.0, gt=0, le=86_400)
    """A lobby socket counts as online this long after its last heartbeat."""
    rooms_push_interval_seconds: float = Field(default=0.5, ge=0, le=60)
    """At most one `rooms` push to the lobby per interval (debounce)."""
    seat_reservation_seconds: float = Field(default=30.0, gt=0, le=3_600)
    """How long a matchmaking seat waits for the player's socket to claim it."""

    # The games this server offers (lobby/games.py, docs/games.md): dotted paths,
    # comma-separated, the first being the default game.
    games: str = "engine.arena,engine.paddle"
    """Dotted paths of game definitions (a module with `GAME`, or the definition itself)."""

    @field_validator("games")
    @classmethod
    def _games_are_dotted_paths(cls, value: str) -> str:
        paths = [p.strip() for p in value.split(",") if p.strip()]
        if not paths:
            raise ValueError("must name at least one game (a dotted path like engine.arena)")
        for path in paths:
            if not all(part.isidentifier() for part in path.split(".")):
                raise ValueError(f"{path!r} is not a dotted path like engine.arena")
        return value

    @property
    def game_paths(self) -> list[str]:
        """GAMES as a list of dotted paths, in order."""
        return [p.strip() for p in self.games.split(",") if p.strip()]

    # Sessions and tokens.
    token_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=365 * 24 * 3600)

    # Logging.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Operations: who may scrape /metrics, and prometheus-client's multiprocess mode.
    metrics_token: str | None = Field(default=None, min_length=16)
    metrics_allowed_networks: str = "127.0.0.0/8,::1/128"
    prometheus_multiproc_dir: Path | None = None

    # HTTP API rate limits (requests per minute; per client IP or per user).
    guest_rate_per_minute: int = Field(default=10, ge=1, le=100_000)
    matchmake_rate_per_minute: int = Field(default=30, ge=1, le=100_000)

    # Client identity behind proxies, and limits on every API call that writes
    # (lobby/client_address.py, lobby/ratelimit.py; docs/security.md).
    trusted_proxies: str = ""
    """Comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed."""
    create_room_rate_per_minute: int = Field(default=10, ge=1, le=100_000)
    notifications_read_rate_per_minute: int = Field(default=60, ge=1, le=100_000)
    logout_rate_per_minute: int = Field(default=10, ge=1, le=100_000)
    staff_action_rate_per_minute: int = Field(default=60, ge=1, le=100_000)
    admin_login_rate_per_minute: int = Field(default=10, ge=1, le=100_000)
    max_open_rooms_per_user: int = Field(default=5, ge=1, le=10_000)
    """Open rooms one user may have created at once (closed rooms do not count)."""

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies_parse(cls, value: str) -> str:
        return cls._networks_parse(value)

    @property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """TRUSTED_PROXIES parsed (empty: no proxy is trusted; X-Forwarded-For is ignored)."""
        return _parse_networks(self.trusted_proxies)

    # Task queue, ratings, skill-based matchmaking, match length. See docs/tasks.md.
    match_seconds: float = Field(default=180.0, gt=0, le=86_400)
    """How long the PLAYING phase of a match lasts (the engine's time limit)."""
    countdown_seconds: float = Field(default=3.0, ge=0, le=3_600)
    """How long COUNTDOWN lasts before PLAYING."""
    task_max_attempts: int = Field(default=5, ge=1, le=100)
    """Runs of a task (failures and lost workers) before it is parked as dead."""
    task_backoff_seconds: float = Field(default=2.0, gt=0, le=3_600)
    """Retry delay after the first failure; doubles with each failure."""
    task_backoff_max_seconds: float = Field(default=300.0, gt=0, le=86_400)
    task_lease_seconds: float = Field(default=60.0, gt=0, le=86_400)
    """A claimed task belongs to its worker this long; then it may run elsewhere."""
    task_resend_seconds: float = Field(default=30.0, gt=0, le=86_400)
    """A due task whose message was sent this long ago without a claim is sent again."""
    task_sweep_seconds: float = Field(default=5.0, gt=0, le=3_600)
    """How often a worker's sweeper looks for due tasks to (re-)send."""
    worker_metrics_port: int = Field(default=0, ge=0, le=65_535)
    """A `runworker` process serves its task metrics on 127.0.0.1:PORT (0: off)."""
    task_test_hooks: bool = False
    """Enables the test-only task kinds (`test.*`); never set in production."""
    skill_band_base: float = Field(default=5.0, ge=0, le=1_000)
    """Matchmaking: the rating distance accepted at once."""
    skill_band_growth: float = Field(default=1.0, ge=0, le=1_000)
    """Matchmaking: how much the band widens per second of waiting."""
    skill_band_max: float = Field(default=30.0, ge=0, le=10_000)
    """Matchmaking: the widest band; past it any free seat is taken."""

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        try:
            parsed = dj_database_url.parse(value)
        except Exception as exc:  # dj-database-url raises several kinds
            raise ValueError(f"not a database URL ({exc})") from exc
        if not parsed.get("ENGINE"):
            raise ValueError("not a database URL (unknown scheme)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        for url in value.split(","):
            if not url.strip().startswith(("redis://", "rediss://", "unix://")):
                raise ValueError("each URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator("cpu_affinity")
    @classmethod
    def _cpus_exist(cls, value: str) -> str:
        if not value.strip():
            return ""
        cpus = affinity.parse(value)
        missing = sorted(cpus - affinity.available())
        if missing:
            raise ValueError(f"CPUs {missing} are not available to this process "
                             f"(it may use {sorted(affinity.available())})")
        return value

    @property
    def cpu_set(self) -> frozenset[int] | None:
        """CPU_AFFINITY parsed (None: unset, the operating system decides)."""
        return affinity.parse(self.cpu_affinity) if self.cpu_affinity else None

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_not_empty(cls, value: str) -> str:
        if not [h for h in value.split(",") if h.strip()]:
            raise ValueError("must name at least one host")
        return value

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _metrics_token_set(cls, value: object) -> object:
        return value or None

    @field_validator("metrics_allowed_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError as exc:
                    raise ValueError(f"not a CIDR network list ({exc})") from None
        return value

    @field_validator("prometheus_multiproc_dir")
    @classmethod
    def _multiproc_dir_exists(cls, value: Path | None) -> Path | None:
        if value in (None, Path("")):
            return None
        if not value.is_dir():
            raise ValueError("must be an existing directory (prometheus-client writes there)")
        return value

    @model_validator(mode="after")
    def _snapshot_not_faster_than_tick(self) -> ServerConfig:
        if self.snapshot_rate > self.tick_rate:
            raise ValueError("SNAPSHOT_RATE must not exceed TICK_RATE")
        if self.tick_rate % self.snapshot_rate:
            raise ValueError("SNAPSHOT_RATE must divide TICK_RATE")
        return self

    @model_validator(mode="after")
    def _lease_renewed_in_time(self) -> ServerConfig:
        if self.lease_renew_seconds > self.lease_ttl_seconds / 2:
            raise ValueError("LEASE_RENEW_SECONDS must be at most half of LEASE_TTL_SECONDS")
        return self

    @model_validator(mode="after")
    def _presence_outlives_heartbeat(self) -> ServerConfig:
        if self.presence_ttl_seconds <= self.presence_heartbeat_seconds:
            raise ValueError("PRESENCE_TTL_SECONDS must exceed PRESENCE_HEARTBEAT_SECONDS")
        return self

    @property
    def allowed_host_list(self) -> list[str]:
        return [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]

    @property
    def metrics_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """METRICS_ALLOWED_NETWORKS parsed (empty: no network is trusted without the token)."""
        return [
            ipaddress.ip_network(p.strip(), strict=False)
            for p in self.metrics_allowed_networks.split(",")
            if p.strip()
        ]

    @property
    def redis_urls(self) -> list[str]:
        return [u.strip() for u in (self.redis_url or "").split(",") if u.strip()]


def _parse_networks(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip()]


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        name = loc[0].upper() if loc else "settings"
        raw = os.environ.get(name)
        secret = name in {"SECRET_KEY", "METRICS_TOKEN"}
        shown = "" if raw is None or secret else f"={raw!r}"
        lines.append(f"{name}{shown}: {item['msg']}")
    return "bad environment: " + "; ".join(lines)


def load() -> ServerConfig:
    """Read and validate the environment; raise ConfigError naming the variable."""
    try:
        return ServerConfig()
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def secret_key(config: ServerConfig) -> str:
    """SECRET_KEY from the environment, or one generated once and kept in a local file.

    Several processes may start at once: the key is written to a private
    temporary file and hard-linked into place, which fails if another process
    won the race; the loser then reads the winner's complete key.
    """
    if config.secret_key:
        return config.secret_key
    path = config.secret_key_file
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if len(key) < 32:
        raise ConfigError(f"SECRET_KEY_FILE={str(path)!r}: holds no usable key")
    return key
