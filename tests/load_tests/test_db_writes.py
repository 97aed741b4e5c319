"""``load_tests.db_writes`` counts each statement of the real application once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from load_tests.bench import ROOT, project_env


def test_counts_of_a_real_join_and_chat(tmp_path: Path) -> None:
    env = project_env(tmp_path / "db.sqlite3", RECONNECT_GRACE_SECONDS="0")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                   env=env, check=True, timeout=120)
    out = tmp_path / "writes.json"
    subprocess.run([sys.executable, "-m", "load_tests.db_writes", "--players", "3",
                    "--messages", "4", "--json", str(out)], cwd=ROOT, env=env, check=True,
                   timeout=120, capture_output=True)
    r = json.loads(out.read_text())
    assert r["vendor"] == "sqlite" and r["players"] == 3 and r["messages"] == 4
    # A guest session creates its user; a first join creates the room and a seat.
    assert r["guest_session"]["write"] >= 1
    assert r["first_join"]["write"] >= 2
    assert r["join"]["write"] >= 1
    # Without a reconnect grace a leave gives its seat back (a DELETE) inside the count.
    assert r["leave"]["write"] >= 1
    # Every message is stored before it is sent, and counted once, not once per
    # reconnect of a thread's connection (the wrapper is installed once).
    assert 0 < r["chat_message"]["write"] <= 1
    assert r["chat_message"]["read"] < 10
