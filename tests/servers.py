"""Real servers for tests: redis-server and daphne processes on loopback.

Tests that need a real dependency call `require()`: on a developer's laptop
a missing dependency skips with the reason; under `CI=true` it fails, so CI
never goes green by skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(available: bool, reason: str) -> None:
    """Skip (laptop) or fail (CI) when a real dependency is missing."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: object, timeout: float, what: str) -> None:
    """Poll `check()` (a callable returning truthy) until it holds or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class RedisServer:
    """A private redis-server on a free loopback port (or REDIS_URL if given)."""

    url: str
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    @classmethod
    def start(cls) -> RedisServer:
        if os.environ.get("REDIS_URL"):
            return cls(url=os.environ["REDIS_URL"])
        return cls.restart_on(free_port())

    @classmethod
    def restart_on(cls, port: int) -> RedisServer:
        """A fresh, empty redis-server on `port` (as after a restart)."""
        binary = shutil.which("redis-server")
        require(binary is not None, "redis-server is not installed")
        assert binary is not None
        process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )
        server = cls(url=f"redis://127.0.0.1:{port}/0", process=process, port=port)
        wait_until(server.ping, 10, "redis-server")
        return server

    def scripts_run(self) -> int:
        """Lua scripts this Redis has run (a first call of a script not loaded yet
        fails, is loaded and runs: counted once)."""
        stats = redis.Redis.from_url(self.url).info("commandstats").get("cmdstat_evalsha", {})
        return int(stats.get("calls", 0)) - int(stats.get("failed_calls", 0))

    def ping(self) -> bool:
        host, port = self.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


@dataclass
class LiveServer:
    """A daphne process serving the project on a free loopback port."""

    env: dict[str, str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> LiveServer:
        self.port = self.port or free_port()
        handle, name = tempfile.mkstemp(prefix="daphne-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gameserver.serve", "-b", "127.0.0.1", "-p", str(self.port),
                 *self.extra_args, "gameserver.asgi:application"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        wait_until(self.healthy, timeout, f"daphne on port {self.port}")
        return self

    def healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"daphne exited early:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def metric(self, name: str, labels: Mapping[str, str] | None = None,
               absent: float | None = None) -> float:
        """One sample of the server's /metrics (open to loopback by default).

        A sample that is not there fails the test, unless `absent` says what it
        counts as (a labelled counter appears only once something counted it).
        """
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == dict(labels or {}):
                    return float(sample.value)
        if absent is None:
            raise AssertionError(f"{name}{dict(labels or {})} not in /metrics")
        return absent

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def server_env(database_path: Path, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a live server: a private SQLite file, quiet logs."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "gameserver.settings",
            "DATABASE_URL": f"sqlite:///{database_path}",
            "MEDIA_ROOT": str(database_path.parent / "media"),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # Suites create many guests from 127.0.0.1; the limits' own tests lower these.
            "GUEST_RATE_PER_MINUTE": "100000",
            "MATCHMAKE_RATE_PER_MINUTE": "100000",
        }
    )
    env.update(overrides or {})
    return env


def migrate(env: Mapping[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=dict(env), check=True,
    )


def http_json(
    method: str, url: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """A JSON request against a live server: (status, decoded body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
