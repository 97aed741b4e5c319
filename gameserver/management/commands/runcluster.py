"""`manage.py runcluster`: several server processes on Redis behind nginx, on one machine.

    python manage.py runcluster --processes 2 --host 127.0.0.1 --port 8000   (make run-cluster)

Starts a private redis-server when REDIS_URL is unset, N daphne processes on
ports PORT+1 … PORT+N sharing it, one task worker (`manage.py runworker
arena-tasks`, docs/tasks.md), and nginx on HOST:PORT hashing each room's
URL to one process (`render_nginx`). Without nginx on PATH the processes
still work (any process serves any room); connect to their ports directly.
Ctrl-C or SIGTERM stops everything; each daphne process hands its rooms over
as it goes.

Client identity and metrics behind nginx (docs/security.md): the daphne
processes get TRUSTED_PROXIES set to nginx's address (loopback, `NGINX_ADDRESS`)
so they believe the `X-Forwarded-For` entry nginx appends and see the real
client; daphne's own `--proxy-headers` is not used. `/metrics` through nginx
always needs the token (a proxied request never gets network trust), so the
launcher generates METRICS_TOKEN when none is given, keeps it in
`var/metrics_token` (mode 0600) and prints where it is.

TLS: with `--tls-cert FILE --tls-key FILE --tls-port N`, nginx also listens
on HOST:N with TLS and tells the processes, in `X-Forwarded-Proto`, that the
browser used https (the login `Origin` check and Django's CSRF check compare
against `https://HOST:N` then).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

GAMESERVER = Path(__file__).resolve().parents[2]
NGINX_TEMPLATE = GAMESERVER / "deploy" / "nginx.conf"
ROOT = GAMESERVER.parent
METRICS_TOKEN_FILE = ROOT / "var" / "metrics_token"
NGINX_ADDRESS = "127.0.0.1/32,::1/128"
"""The addresses nginx connects to the upstream processes from (loopback)."""


def metrics_token(path: Path = METRICS_TOKEN_FILE) -> str:
    """The cluster's METRICS_TOKEN: read from `path`, or generated into it (0600) once."""
    if path.exists():
        token = path.read_text().strip()
        if len(token) >= 16:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    path.chmod(0o600)
    return token


def proxied_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a daphne process behind the local nginx: nginx's address is a trusted proxy.

    An operator's own TRUSTED_PROXIES (a balancer in front of nginx) is kept.
    """
    env = dict(env)
    own = env.get("TRUSTED_PROXIES", "").strip()
    env["TRUSTED_PROXIES"] = f"{own},{NGINX_ADDRESS}" if own else NGINX_ADDRESS
    return env


@dataclass(frozen=True)
class TlsListener:
    """Where nginx terminates TLS: a port on the same host, a certificate chain and its key."""

    port: int
    cert: Path
    key: Path

    def directives(self, host: str) -> str:
        return (f"        listen {host}:{self.port} ssl;\n"
                f"        ssl_certificate {self.cert};\n"
                f"        ssl_certificate_key {self.key};")


def render_nginx(prefix: Path, host: str, port: int, upstream_ports: list[int],
                 tls: TlsListener | None = None) -> Path:
    """Write an nginx config for these upstreams under `prefix`; return its path."""
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / name).mkdir(parents=True, exist_ok=True)
        # nginx workers may run as an unprivileged user.
        (prefix / "tmp" / name).chmod(0o777)
    servers = "\n".join(
        f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in upstream_ports
    )
    text = NGINX_TEMPLATE.read_text()
    for marker, value in (("@PREFIX@", str(prefix)), ("@HOST@", host), ("@PORT@", str(port)),
                          ("@SERVERS@", servers),
                          ("@TLS@", tls.directives(host) if tls else "")):
        text = text.replace(marker, value)
    path = prefix / "nginx.conf"
    path.write_text(text)
    return path


def _wait_for_port(port: int, timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout}s")


class Command(BaseCommand):
    help = "Run N daphne processes on Redis behind nginx, with one task worker (Ctrl-C stops)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--processes", type=int, default=2)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--tls-port", type=int, help="nginx also serves https on this port")
        parser.add_argument("--tls-cert", type=Path, help="certificate chain (PEM) for --tls-port")
        parser.add_argument("--tls-key", type=Path, help="private key (PEM) for --tls-port")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["processes"] <= 64:
            raise CommandError("--processes must be 1 to 64")
        status = run(options["processes"], options["host"], options["port"], tls_listener(options))
        if status:
            raise CommandError("a process of the cluster exited; stopped the others")


def tls_listener(options: dict[str, Any]) -> TlsListener | None:
    """The TLS listener the options ask for; all three of --tls-* or none."""
    given = [options.get(k) for k in ("tls_port", "tls_cert", "tls_key")]
    if not any(given):
        return None
    if not all(given):
        raise CommandError("--tls-port, --tls-cert and --tls-key go together")
    tls = TlsListener(int(options["tls_port"]), Path(options["tls_cert"]).resolve(),
                      Path(options["tls_key"]).resolve())
    if not 1 <= tls.port <= 65535:
        raise CommandError("--tls-port must be 1 to 65535")
    for path in (tls.cert, tls.key):
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
    if shutil.which("nginx") is None:
        raise CommandError("--tls-* needs nginx, which is not installed")
    return tls


def run(processes: int, host: str, port: int, tls: TlsListener | None = None) -> int:
    """Start the cluster and wait; 0 after Ctrl-C/SIGTERM, 1 if a process exited."""
    children: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="arena-cluster-"))
    env = dict(os.environ)
    try:
        if not env.get("REDIS_URL"):
            redis = shutil.which("redis-server")
            if redis is None:
                raise SystemExit("REDIS_URL is unset and redis-server is not installed")
            redis_port = port + 100
            children.append(subprocess.Popen(
                [redis, "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                 "--appendonly", "no"], stdout=subprocess.DEVNULL))
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
            _wait_for_port(redis_port, 10)
        if env.get("METRICS_TOKEN"):
            token_note = "the METRICS_TOKEN you set"
        else:
            env["METRICS_TOKEN"] = metrics_token()
            token_note = f"the token in {METRICS_TOKEN_FILE}"
        nginx = shutil.which("nginx")
        daphne_env = proxied_env(env) if nginx is not None else env
        ports = [port + i for i in range(1, processes + 1)]
        for each in ports:
            children.append(subprocess.Popen(
                [sys.executable, "-m", "gameserver.serve", "-b", "127.0.0.1", "-p", str(each),
                 "gameserver.asgi:application"], cwd=ROOT, env=daphne_env))
        children.append(subprocess.Popen(
            [sys.executable, "manage.py", "runworker", "arena-tasks"], cwd=ROOT, env=env))
        for each in ports:
            _wait_for_port(each, 30)
        if nginx is not None:
            config = render_nginx(workdir, host, port, ports, tls)
            children.append(subprocess.Popen([nginx, "-p", str(workdir), "-c", str(config)]))
            print(f"arena cluster: http://{host}:{port}/ (nginx) → "
                  f"{len(ports)} processes on ports {ports[0]}–{ports[-1]}, one task worker",
                  flush=True)
            if tls is not None:
                print(f"arena cluster: https://{host}:{tls.port}/ (nginx, TLS)", flush=True)
        else:
            print(f"arena cluster: nginx not found; processes on ports {ports}", flush=True)
        print(f"arena cluster: /metrics needs 'Authorization: Bearer <token>' with {token_note}",
              flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in reversed(children):
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
        shutil.rmtree(workdir, ignore_errors=True)

