"""/metrics: access rules, the runtime's metrics, bounded labels; log filters."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from django.test import AsyncClient
from prometheus_client.parser import text_string_to_metric_families

from gameserver import logs, metrics
from tests.gameserver.game_client import GameClient, new_guest

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "m" * 24
BOUNDED_LABELS = {"role", "phase", "code", "result", "channel", "scope", "reason", "path", "kind",
                  "type", "le"}
"""`kind`: a task kind, one of lobby.taskmetrics.KINDS or `other`; `type`: an interprocess
message type (gameserver/interprocess.py)."""


@pytest.fixture
def arena(settings: Any) -> Any:
    def update(**values: Any) -> None:
        settings.ARENA = settings.ARENA.model_copy(update=values)

    return update


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(token: str | None = None) -> Any:
    """GET /metrics from 127.0.0.1 (the test client's peer address)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await AsyncClient().get("/metrics", headers=headers)


async def test_loopback_may_scrape_and_sees_the_runtime_metrics() -> None:
    answer = await scrape()
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")
    text = answer.content.decode()
    for name in ("arena_tick_duration_seconds", "arena_tick_lateness_seconds",
                 "arena_connected", "arena_rooms_by_phase", "arena_snapshots_sent_total",
                 "arena_bytes_sent_total", "arena_frames_rejected_total",
                 "arena_slow_client_drops_total", "arena_rate_limit_closes_total",
                 "arena_layer_send_seconds", "arena_chat_messages_total",
                 "arena_reconnections_total", "process_cpu_seconds_total"):
        assert name in text, name


async def test_other_networks_are_refused_with_the_json_error_shape(arena: Any) -> None:
    arena(metrics_allowed_networks="10.0.0.0/8,fd00::/8")  # 127.0.0.1 is now outside
    answer = await scrape()
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"


async def test_the_metrics_token_opens_metrics_from_anywhere(arena: Any) -> None:
    arena(metrics_token=TOKEN, metrics_allowed_networks="")
    assert (await scrape(token=TOKEN)).status_code == 200
    wrong = await scrape(token="nope")
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
    # No token and an empty network list: nobody.
    assert (await scrape()).status_code == 403


async def test_allowed_networks_are_configurable(arena: Any) -> None:
    arena(metrics_allowed_networks="10.0.0.0/8,127.0.0.1/32")
    assert (await scrape()).status_code == 200


async def test_a_request_through_a_trusted_proxy_needs_the_token(arena: Any) -> None:
    """A proxy on loopback must not lend its allowed address to the clients behind it."""
    arena(metrics_token=TOKEN, trusted_proxies="127.0.0.1/32")
    for forwarded_for in ("127.0.0.1", "203.0.113.5"):
        answer = await AsyncClient().get("/metrics", headers={"X-Forwarded-For": forwarded_for})
        assert answer.status_code == 403, forwarded_for
        assert answer.json()["error"]["code"] == "forbidden"
    with_token = await AsyncClient().get(
        "/metrics", headers={"X-Forwarded-For": "203.0.113.5", "Authorization": f"Bearer {TOKEN}"}
    )
    assert with_token.status_code == 200


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
async def test_forwarding_headers_from_an_untrusted_proxy_also_cost_network_trust(
    arena: Any, header: str
) -> None:
    """Without TRUSTED_PROXIES a proxy is just a loopback peer: its headers still give it away."""
    arena(trusted_proxies="")
    assert (await scrape()).status_code == 200, "a direct scrape from loopback is allowed"
    answer = await AsyncClient().get("/metrics", headers={header: "for=203.0.113.5"})
    assert answer.status_code == 403


async def test_a_live_room_shows_up_by_phase_and_labels_stay_bounded() -> None:
    user_id, token = await new_guest("metric")
    client = GameClient("metrics-room-xyz", token)
    await client.connect()
    for _ in range(3):
        await client.until(lambda f: f["t"] == "snap")
    await client.send_raw(b"\xc1")
    await client.error()
    text = (await scrape()).content.decode()
    found = samples(text)
    assert found[("arena_rooms_by_phase", (("phase", "waiting"),))] >= 1
    assert found[("arena_connected", (("role", "player"),))] >= 1
    assert found[("arena_snapshots_sent_total", ())] >= 3
    assert found[("arena_bytes_sent_total", ())] > 0
    assert found[("arena_frames_rejected_total", (("code", "bad_frame"),))] >= 1
    assert found[("arena_tick_duration_seconds_count", ())] > 0
    # Never a label per room or per user: only these bounded label names exist.
    assert "metrics-room-xyz" not in text
    for family in text_string_to_metric_families(text):
        if family.name.startswith("arena_"):
            for sample in family.samples:
                assert set(sample.labels) <= BOUNDED_LABELS, sample
                assert str(user_id) not in sample.labels.values() or "le" in sample.labels
    await client.disconnect()


async def test_inputs_and_snapshots_are_counted_exactly_though_tallied() -> None:
    """Accepted inputs and written snapshots gather in tallies (metrics.Tally), not a
    counter update per frame; /metrics still shows every one of them."""
    key = ("arena_inputs_total", (("result", "accepted"),))
    before = samples((await scrape()).content.decode())
    user_id, token = await new_guest("tally")
    client = GameClient("metrics-tally", token)
    await client.connect()
    for seq in range(5):
        await client.send_input(seq, mx=1.0)
    await client.send_input(2)  # stale: rejected, not counted as accepted
    assert (await client.error())["code"] == "stale_seq"
    await client.until(lambda f: f["t"] == "snap" and f["acks"].get(user_id) == 4)
    seen = [await client.until(lambda f: f["t"] == "snap") for _ in range(2)]
    after = samples((await scrape()).content.decode())
    assert after[key] - before.get(key, 0.0) == 5
    snapshots = ("arena_snapshots_sent_total", ())
    assert after[snapshots] - before[snapshots] >= len(seen) + 1
    await client.disconnect()
    # With no socket left (no hub flushing), the scrape itself flushes.
    metrics.INPUTS_ACCEPTED.count += 2
    last = samples((await scrape()).content.decode())
    assert last[key] - after[key] == 2
    assert metrics.INPUTS_ACCEPTED.count == 0


async def test_flood_and_slow_closes_are_counted() -> None:
    before_flood = metrics.FLOOD_CLOSES._value.get()
    before_slow = metrics.SLOW_DROPS._value.get()
    metrics.count_close(4008)
    metrics.count_close(4009)
    metrics.count_close(4001)
    assert metrics.FLOOD_CLOSES._value.get() == before_flood + 1
    assert metrics.SLOW_DROPS._value.get() == before_slow + 1


async def test_stored_chat_is_counted_by_channel_kind() -> None:
    from lobby.models import ChatMessage, User

    before = metrics.CHAT_MESSAGES.labels("room")._value.get()
    user = await User.objects.acreate(username="chatty", display_name="chatty")
    await ChatMessage.objects.acreate(channel="room.abc", user=user, text="hi")
    assert metrics.CHAT_MESSAGES.labels("room")._value.get() == before + 1


def test_multiprocess_registry_aggregates_the_directory(tmp_path: Path) -> None:
    from prometheus_client import generate_latest

    registry = metrics.registry(str(tmp_path))
    text = generate_latest(registry).decode()
    assert "process_cpu_seconds_total" in text


def test_redaction_hides_tokens_in_messages_and_tracebacks() -> None:
    record = logging.LogRecord(
        "daphne.access", logging.INFO, __file__, 1,
        'GET /ws/game/r/?token=%s&spectate=1 Authorization: Bearer %s', ("abc:1x:sig", "tok"),
        None,
    )
    assert logs.RedactFilter().filter(record)
    message = record.getMessage()
    assert "abc:1x:sig" not in message and "tok\n" not in message
    assert "token=[redacted]" in message and "Bearer [redacted]" in message
    try:
        raise ValueError("query_string=b'token=eyJ1IjoxfQ:1abcde:ZZZZZZZZZZZZZZZZZZZZZZZZ'")
    except ValueError:
        import sys

        failing = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    logs.RedactFilter().filter(failing)
    assert failing.exc_text and "eyJ1IjoxfQ" not in failing.exc_text


def test_context_filter_guarantees_room_user_tick_keys() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hi", None, None)
    logs.ContextFilter().filter(record)
    assert (record.room, record.user, record.tick) == (None, None, None)  # type: ignore[attr-defined]
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hi", None, None)
    record.room = "r1"
    logs.ContextFilter().filter(record)
    line = logs.TextFormatter("%(message)s").format(record)
    assert line == "hi room=r1"
