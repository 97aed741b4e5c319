"""DATABASE_PREPARED_STATEMENTS (gameserver/settings.py): on PostgreSQL the server binds
the parameters and a statement run often on a connection is prepared there; off, or on
SQLite, Django's defaults; options the database URL names itself win."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.db import connection

from gameserver import conf
from lobby.models import User
from tests.servers import ROOT

PG_URL = "postgres://arena@db.invalid:5432/arena"


def _options(**env: str) -> dict[str, object]:
    """The default database's OPTIONS as gameserver.settings builds them from `env`."""
    code = ("import json, gameserver.settings as s; "
            "print(json.dumps(s.DATABASES['default'].get('OPTIONS', {})))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "s" * 40, **env})
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_postgresql_binds_on_the_server_and_prepares_by_default() -> None:
    assert _options(DATABASE_URL=PG_URL) == {
        "server_side_binding": True, "prepare_threshold": conf.PREPARE_THRESHOLD}


def test_off_is_djangos_default() -> None:
    assert _options(DATABASE_URL=PG_URL, DATABASE_PREPARED_STATEMENTS="false") == {}


def test_the_urls_own_options_win() -> None:
    assert _options(DATABASE_URL=PG_URL + "?prepare_threshold=0&sslmode=require") == {
        "server_side_binding": True, "prepare_threshold": 0, "sslmode": "require"}


def test_sqlite_is_untouched() -> None:
    options = _options(DATABASE_URL="sqlite:///:memory:")
    assert "server_side_binding" not in options and "prepare_threshold" not in options


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "sometimes")
    with pytest.raises(conf.ConfigError, match="DATABASE_PREPARED_STATEMENTS"):
        conf.load()


@pytest.mark.django_db
def test_on_postgresql_a_statement_run_often_is_prepared_on_its_connection() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (DATABASE_URL)")
    for _ in range(conf.PREPARE_THRESHOLD + 1):
        User.objects.filter(username="nobody").exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("lobby_user" in sql and "$1" in sql for sql in prepared), prepared
