"""The environment parser: defaults, and errors that name the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gameserver import conf
from tests.servers import ROOT


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TICK_RATE", "SNAPSHOT_RATE",
                 "DEBUG", "ALLOWED_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_suit_a_laptop(clean_env: pytest.MonkeyPatch) -> None:
    config = conf.load()
    assert config.database_url.startswith("sqlite:///")
    assert config.redis_url is None
    assert config.debug is False
    assert config.tick_rate == 20 and config.snapshot_rate == 20
    assert config.replay_recording is True and config.replay_retention_days == 30
    assert "127.0.0.1" in config.allowed_host_list


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TICK_RATE", "fast"),
        ("TICK_RATE", "0"),
        ("TICK_RATE", "1000"),
        ("SNAPSHOT_RATE", "-1"),
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "not a url"),
        ("DATABASE_URL", "nosuchdb://x/y"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("ALLOWED_HOSTS", " , "),
        ("SECRET_KEY", "short"),
        ("MAX_FRAME_BYTES", "1"),
        ("LOG_FORMAT", "xml"),
        ("TRUSTED_PROXIES", "127.0.0.1/32,nginx"),
        ("MAX_OPEN_ROOMS_PER_USER", "0"),
        ("CREATE_ROOM_RATE_PER_MINUTE", "many"),
        ("REPLAY_RETENTION_DAYS", "0"),
        ("REPLAY_RETENTION_DAYS", "a month"),
        ("REPLAY_RECORDING", "sometimes"),
    ],
)
def test_bad_value_names_the_variable(clean_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(conf.ConfigError) as caught:
        conf.load()
    assert name in str(caught.value)
    if name == "SECRET_KEY":
        assert value not in str(caught.value), "a secret must never be echoed"


def test_snapshot_rate_must_fit_tick_rate(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TICK_RATE", "20")
    clean_env.setenv("SNAPSHOT_RATE", "30")
    with pytest.raises(conf.ConfigError, match="SNAPSHOT_RATE"):
        conf.load()
    clean_env.setenv("SNAPSHOT_RATE", "10")
    assert conf.load().snapshot_rate == 10


def test_redis_url_list_for_sharding(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REDIS_URL", "redis://127.0.0.1:1/0, redis://127.0.0.1:2/0")
    assert conf.load().redis_urls == ["redis://127.0.0.1:1/0", "redis://127.0.0.1:2/0"]


def test_secret_key_generated_once_and_kept(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("SECRET_KEY_FILE", str(tmp_path / "key"))
    first = conf.secret_key(conf.load())
    second = conf.secret_key(conf.load())
    assert first == second and len(first) >= 32
    assert (tmp_path / "key").stat().st_mode & 0o077 == 0, "the key file must be private"
    clean_env.setenv("SECRET_KEY", "k" * 40)
    assert conf.secret_key(conf.load()) == "k" * 40


def test_bad_environment_stops_start_up(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "TICK_RATE": "twenty", "SECRET_KEY_FILE": str(tmp_path / "k")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "TICK_RATE='twenty'" in result.stderr


def test_every_setting_is_documented_for_operators() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    missing = [name.upper() for name in conf.ServerConfig.model_fields
               if name.upper() not in operations]
    assert not missing, f"docs/operations.md does not list {missing}"


def test_trusted_proxies_are_empty_by_default_and_parse(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("TRUSTED_PROXIES", raising=False)
    assert conf.load().trusted_proxy_networks == []
    clean_env.setenv("TRUSTED_PROXIES", "127.0.0.1/32, ::1/128,10.0.0.0/8")
    assert [str(n) for n in conf.load().trusted_proxy_networks] == [
        "127.0.0.1/32", "::1/128", "10.0.0.0/8"]


def test_lease_renewal_must_fit_twice_in_the_ttl(clean_env: pytest.MonkeyPatch) -> None:
    config = conf.load()
    assert config.lease_ttl_seconds == 1.5 and config.lease_renew_seconds == 0.5
    clean_env.setenv("LEASE_TTL_SECONDS", "1")
    clean_env.setenv("LEASE_RENEW_SECONDS", "0.6")
    with pytest.raises(conf.ConfigError, match="LEASE_RENEW_SECONDS"):
        conf.load()
    clean_env.setenv("LEASE_RENEW_SECONDS", "0.3")
    assert conf.load().lease_renew_seconds == 0.3
    clean_env.setenv("LEASE_TTL_SECONDS", "0")
    with pytest.raises(conf.ConfigError, match="LEASE_TTL_SECONDS"):
        conf.load()
