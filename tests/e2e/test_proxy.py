"""Real nginx in front of daphne: client identity, per-IP limits and /metrics behind a proxy.

The backend runs as `make run-cluster` runs it: TRUSTED_PROXIES is nginx's
address (loopback, `gameserver/management/commands/runcluster.py` `proxied_env`), nginx appends
`$proxy_add_x_forwarded_for` (gameserver/deploy/nginx.conf). Clients bind
their sockets to other loopback addresses (127.0.0.2, 127.0.0.3) so nginx
sees them as different clients.
"""

from __future__ import annotations

import http.client
import json
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gameserver.management.commands.runcluster import TlsListener, proxied_env, render_nginx
from tests.servers import LiveServer, free_port, migrate, require, server_env, wait_until

pytestmark = pytest.mark.live

METRICS_TOKEN = "proxy-test-metrics-token-0123456789"
GUEST_BUDGET = 3


@dataclass
class Front:
    """nginx on `port` (and TLS on `tls_port`) in front of one daphne process."""

    port: int
    tls_port: int
    tls: ssl.SSLContext
    backend: LiveServer


def request(
    port: int, method: str, path: str, body: Any = None, *, source: str = "127.0.0.1",
    headers: dict[str, str] | None = None, tls: ssl.SSLContext | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """One HTTP(S) request from loopback address `source`: (status, decoded body, headers)."""
    conn = (http.client.HTTPSConnection("127.0.0.1", port, timeout=10, source_address=(source, 0),
                                        context=tls) if tls is not None else
            http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0)))
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data,
                     headers={"Content-Type": "application/json", **(headers or {})})
        answer = conn.getresponse()
        raw = answer.read()
        try:
            decoded: Any = json.loads(raw)
        except ValueError:
            decoded = raw.decode(errors="replace")
        return answer.status, decoded, dict(answer.getheaders())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                       else None)
    require(binary is not None, "nginx is not installed")
    assert binary is not None
    tmp = tmp_path_factory.mktemp("proxy")
    env = server_env(tmp / "arena.sqlite3", {
        "GUEST_RATE_PER_MINUTE": str(GUEST_BUDGET),
        "METRICS_TOKEN": METRICS_TOKEN,
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
    })
    env.pop("TRUSTED_PROXIES", None)
    migrate(env)
    openssl = shutil.which("openssl")
    require(openssl is not None, "openssl is not installed (it makes the TLS certificate)")
    assert openssl is not None
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port, tls_port = free_port(), free_port()
    backend = LiveServer(env=proxied_env(env)).start()
    try:
        config = render_nginx(tmp, "127.0.0.1", port, [backend.port],
                              TlsListener(tls_port, cert, key))
        check = subprocess.run([binary, "-t", "-p", str(tmp), "-c", str(config)],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        process = subprocess.Popen([binary, "-p", str(tmp), "-c", str(config)])
    except BaseException:  # the backend must not outlive a failed set-up
        backend.stop()
        raise

    def healthy() -> bool:
        try:
            return request(port, "GET", "/healthz")[0] == 200
        except OSError:
            return False

    try:
        wait_until(healthy, 10, "nginx")
        yield Front(port=port, tls_port=tls_port,
                    tls=ssl.create_default_context(cafile=str(cert)), backend=backend)
    finally:
        process.terminate()
        process.wait(10)
        backend.stop()


def guest(front: Front, source: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return request(front.port, "POST", "/api/session/guest", {"name": "px"}, source=source,
                   headers=headers)[0]


def test_a_spoofed_forwarded_for_buys_no_budget_and_each_address_has_its_own(
    front: Front,
) -> None:
    spent = [guest(front, "127.0.0.2") for _ in range(GUEST_BUDGET)]
    assert spent == [201] * GUEST_BUDGET
    # The client writes X-Forwarded-For itself: nginx appends its real address,
    # and the server reads from the right, so no forged value is a new client.
    for forged in ("198.51.100.77", "127.0.0.9", "127.0.0.3", "garbage", "1.2.3.4, 5.6.7.8"):
        assert guest(front, "127.0.0.2", forged) == 429, forged
    status, body, headers = request(front.port, "POST", "/api/session/guest", {"name": "px"},
                                    source="127.0.0.2")
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert int(headers["Retry-After"]) >= 1
    # Another address behind the same proxy is another client, with its own budget
    # (were the proxy's address the key, it would be spent too).
    assert [guest(front, "127.0.0.3") for _ in range(GUEST_BUDGET)] == [201] * GUEST_BUDGET
    assert guest(front, "127.0.0.3") == 429


def test_the_access_log_names_the_real_client_behind_nginx(front: Front) -> None:
    request(front.port, "GET", "/healthz?from=proxy-log-test", source="127.0.0.4",
            headers={"X-Forwarded-For": "203.0.113.50"})
    lines: list[dict[str, Any]] = []

    def logged() -> bool:
        lines[:] = [json.loads(line) for line in front.backend.log().splitlines()
                    if line.startswith("{") and "proxy-log-test" in line]
        return bool(lines)

    wait_until(logged, 5, "the access log line")
    assert lines[0]["client"] == "127.0.0.4", lines[0]
    assert str(lines[0]["peer"]).startswith("127.0.0.1:"), "the peer is nginx"
    assert "203.0.113.50" not in json.dumps(lines[0])


def test_metrics_through_nginx_need_the_token(front: Front) -> None:
    # nginx connects from loopback, an allowed network: the proxied request
    # must still be refused without the token, even from a loopback client.
    for source in ("127.0.0.1", "127.0.0.5"):
        status, body, _ = request(front.port, "GET", "/metrics", source=source)
        assert status == 403 and body["error"]["code"] == "forbidden", (source, body)
    status, _, _ = request(front.port, "GET", "/metrics",
                           headers={"Authorization": "Bearer wrong-token-wrong-token"})
    assert status == 403
    status, text, _ = request(front.port, "GET", "/metrics",
                              headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200 and "arena_connected" in text
    # Straight to the process: from nginx's own address (a trusted proxy) the
    # token is needed too; from another loopback address (an allowed network,
    # no forwarding headers) it is not.
    assert request(front.backend.port, "GET", "/metrics")[0] == 403
    status, text, _ = request(front.backend.port, "GET", "/metrics", source="127.0.0.6")
    assert status == 200 and "arena_connected" in text


def test_x_forwarded_for_straight_to_the_backend_is_ignored(front: Front) -> None:
    """Only nginx's address is trusted: another local peer cannot name a client."""
    spent = [request(front.backend.port, "POST", "/api/session/guest", {"name": "px"},
                     source="127.0.0.6", headers={"X-Forwarded-For": f"10.9.9.{i}"})[0]
             for i in range(GUEST_BUDGET + 1)]
    assert spent == [201] * GUEST_BUDGET + [429]



def test_browser_logins_through_nginx_are_checked_against_the_sites_own_origin(
    front: Front,
) -> None:
    """nginx passes Host as the browser sent it (port included): same-origin logins work."""
    site = f"http://127.0.0.1:{front.port}"
    status, body, headers = request(front.port, "POST", "/api/session/guest", {"name": "px"},
                                    source="127.0.0.7", headers={"Origin": site})
    assert status == 201, body
    assert "sessionid=" in headers.get("Set-Cookie", "")
    for foreign in ("http://evil.example", f"http://127.0.0.1:{front.backend.port}"):
        status, body, headers = request(front.port, "POST", "/api/session/guest",
                                        {"name": "px"}, source="127.0.0.7",
                                        headers={"Origin": foreign})
        assert status == 403 and body["error"]["code"] == "csrf_failed", foreign
        assert "sessionid=" not in headers.get("Set-Cookie", "")


def test_https_logins_through_nginx_match_the_https_origin_and_clients_cannot_claim_it(
    front: Front,
) -> None:
    """nginx terminates TLS and says so in X-Forwarded-Proto; only nginx is believed.

    Each request comes from its own address: the guest budget is per client.
    """
    secure_site = f"https://127.0.0.1:{front.tls_port}"
    status, body, headers = request(front.tls_port, "POST", "/api/session/guest", {"name": "tl"},
                                    source="127.0.0.8", headers={"Origin": secure_site},
                                    tls=front.tls)
    assert status == 201, body
    assert "sessionid=" in headers.get("Set-Cookie", "")
    # Over TLS, an http:// Origin is another site.
    status, body, _ = request(front.tls_port, "POST", "/api/session/guest", {"name": "tl"},
                              source="127.0.0.9", tls=front.tls,
                              headers={"Origin": f"http://127.0.0.1:{front.tls_port}"})
    assert status == 403 and body["error"]["code"] == "csrf_failed", body
    # A client claiming https on the plain port: nginx overwrites the header.
    status, body, _ = request(front.port, "POST", "/api/session/guest", {"name": "tl"},
                              source="127.0.0.10",
                              headers={"Origin": f"https://127.0.0.1:{front.port}",
                                       "X-Forwarded-Proto": "https"})
    assert status == 403 and body["error"]["code"] == "csrf_failed", body
    # ...and straight to the backend from an untrusted peer: the header is dropped.
    status, body, _ = request(front.backend.port, "POST", "/api/session/guest", {"name": "tl"},
                              source="127.0.0.11",
                              headers={"Origin": f"https://127.0.0.1:{front.backend.port}",
                                       "X-Forwarded-Proto": "https"})
    assert status == 403 and body["error"]["code"] == "csrf_failed", body
