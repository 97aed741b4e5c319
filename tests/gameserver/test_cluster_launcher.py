"""`make run-cluster`'s set-up of client identity and metrics.

(gameserver/management/commands/runcluster.py)
"""

from __future__ import annotations

from pathlib import Path

from gameserver import conf
from gameserver.management.commands import runcluster as cluster


def test_processes_behind_nginx_trust_exactly_nginxs_address() -> None:
    env = cluster.proxied_env({"PATH": "/bin"})
    assert env["TRUSTED_PROXIES"] == cluster.NGINX_ADDRESS
    assert all(net.num_addresses == 1 for net in conf._parse_networks(env["TRUSTED_PROXIES"])), \
        "only nginx's own address, never a network clients connect from"
    kept = cluster.proxied_env({"TRUSTED_PROXIES": "10.0.0.2/32"})
    assert kept["TRUSTED_PROXIES"] == f"10.0.0.2/32,{cluster.NGINX_ADDRESS}"


def test_the_metrics_token_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "var" / "metrics_token"
    token = cluster.metrics_token(path)
    assert len(token) >= 16 and path.read_text().strip() == token
    assert path.stat().st_mode & 0o077 == 0, "the token file must be private"
    assert cluster.metrics_token(path) == token, "reused on the next start"


def test_the_rendered_nginx_config_forwards_the_client_and_the_host(tmp_path: Path) -> None:
    text = cluster.render_nginx(tmp_path, "127.0.0.1", 8000, [8001]).read_text()
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in text
    assert "proxy_set_header Host $http_host;" in text
