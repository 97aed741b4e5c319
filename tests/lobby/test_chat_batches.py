"""Chat is stored in short batches: order, stored-before-sent, failed batches, limits, writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import OperationalError, connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gameserver.lobby_hub import LobbyHub
from gameserver.metrics import CHAT_MESSAGES
from gameserver.net.socket import Socket
from lobby import chat
from lobby.metrics import CHAT_BATCH_MESSAGES
from lobby.models import ChatMessage, Mute, User
from tests.lobby.helpers import LobbyClient, anew_user

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = ChatMessage._meta.db_table


async def _users(count: int) -> list[User]:
    return [(await anew_user(f"u{i}"))[0] for i in range(count)]


async def _post_all(posts: list[tuple[User, str]]) -> list[dict[str, Any] | BaseException]:
    """Post every (user, text) at once, accepted in list order; each frame or its error."""
    return await asyncio.gather(
        *(chat.apost(user, "lobby", text) for user, text in posts), return_exceptions=True
    )


async def _chat_frames(client: LobbyClient, count: int) -> list[dict[str, Any]]:
    return [await client.of_type("chat.message") for _ in range(count)]


@pytest.fixture
def batches(arena: Any) -> Any:
    """Batches of at most `size` gathered for `window_ms`; a rate limit tests reach on purpose."""

    def configure(size: int = 100, window_ms: float = 50.0, rate: int = 1_000) -> None:
        arena(chat_batch_max=size, chat_batch_window_ms=window_ms, chat_rate_count=rate,
              chat_rate_seconds=60)

    return configure


async def test_messages_arrive_in_the_order_accepted_within_and_across_batches(
    batches: Any,
) -> None:
    batches(size=3)
    users = await _users(4)
    _, token = await anew_user("reader")
    reader = await LobbyClient(token).connect()
    posts = [(users[i % 4], f"m{i}") for i in range(10)]  # four batches: 3 + 3 + 3 + 1
    answers = await _post_all(posts)
    frames = await _chat_frames(reader, 10)
    assert [f["text"] for f in frames] == [text for _, text in posts]
    ids = [f["id"] for f in frames]
    assert ids == sorted(ids) and len(set(ids)) == 10, "ids rise in the order sent"
    assert answers == frames, "each sender gets the frame everyone got"
    # The next burst continues after the last one, still in order.
    more = await _post_all([(users[0], "n0"), (users[1], "n1")])
    later = await _chat_frames(reader, 2)
    assert [f["text"] for f in later] == ["n0", "n1"] and later == more
    assert later[0]["id"] > ids[-1]
    await reader.disconnect()


def _stored_ids_seen_from_elsewhere() -> set[int]:
    """The lobby history as another connection (another thread) sees it: only what is committed."""
    try:
        return {m["id"] for m in chat.history("lobby", 100)["messages"]}
    except OperationalError:  # SQLite's shared cache: a transaction is still writing
        return set()
    finally:
        connections.close_all()


async def test_a_receiver_can_always_fetch_what_it_was_sent(batches: Any) -> None:
    batches(size=10, window_ms=20)
    users = await _users(5)
    _, token = await anew_user("reader")
    reader = await LobbyClient(token).connect()
    for burst in range(2):
        posting = asyncio.ensure_future(
            _post_all([(users[i % 5], f"b{burst}-{i}") for i in range(10)])
        )
        for _ in range(10):
            frame = await reader.of_type("chat.message")
            stored = await sync_to_async(_stored_ids_seen_from_elsewhere,
                                         thread_sensitive=False)()
            assert frame["id"] in stored, "sent before it was stored"
        await posting
    await reader.disconnect()


@pytest.fixture
async def failing_insert() -> AsyncIterator[str]:
    """A database trigger that makes any insert of the text 'boom' fail; the text."""
    if connection.vendor == "postgresql":
        create = [
            "CREATE FUNCTION chat_boom() RETURNS trigger AS $$ BEGIN "
            "IF NEW.text = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; "
            "END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER chat_boom BEFORE INSERT ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION chat_boom()",
        ]
        drop = [f"DROP TRIGGER IF EXISTS chat_boom ON {TABLE}",
                "DROP FUNCTION IF EXISTS chat_boom()"]
    else:
        create = [f"CREATE TRIGGER chat_boom BEFORE INSERT ON {TABLE} "
                  "WHEN NEW.text = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END"]
        drop = ["DROP TRIGGER IF EXISTS chat_boom"]

    def run(statements: list[str]) -> None:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    await database_sync_to_async(run)(create)
    yield "boom"
    await database_sync_to_async(run)(drop)


async def test_a_failed_batch_sends_nothing_and_tells_every_sender(
    batches: Any, failing_insert: str
) -> None:
    batches(window_ms=200)
    users = await _users(3)
    _, token = await anew_user("reader")
    reader = await LobbyClient(token).connect()
    answers = await _post_all([(users[0], "fine"), (users[1], failing_insert), (users[2], "ok")])
    assert all(isinstance(a, chat.ChatError) and a.code == "not_stored" for a in answers)
    await reader.nothing_of("chat.message")
    assert await ChatMessage.objects.acount() == 0, "one transaction: none of it is stored"
    # The writer goes on: the next batch is stored and sent.
    assert (await chat.apost(users[0], "lobby", "again"))["text"] == "again"
    assert (await reader.of_type("chat.message"))["text"] == "again"
    await reader.disconnect()


async def test_a_failed_batch_is_an_error_frame_on_the_lobby_socket(
    batches: Any, failing_insert: str
) -> None:
    batches(window_ms=5)
    _, token = await anew_user("ann")
    ann = await LobbyClient(token).connect()
    await ann.send({"type": "chat.send", "text": failing_insert})
    error = await ann.of_type("error")
    assert error["code"] == "not_stored" and error["message"]
    await ann.send({"type": "chat.send", "text": "still here"})
    assert (await ann.of_type("chat.message"))["text"] == "still here", "the socket stays open"
    await ann.disconnect()


async def test_rate_limit_and_mutes_apply_inside_one_batch(batches: Any) -> None:
    batches(rate=3, window_ms=200)
    ann, bob, cat = await _users(3)
    await Mute.objects.acreate(user=cat, until=timezone.now() + timedelta(hours=1))
    posts = [(ann, "a0"), (bob, "b0"), (ann, "a1"), (cat, "c0"), (ann, "a2"), (ann, "a3"),
             (bob, "b1"), (ann, "a4")]
    answers = await _post_all(posts)
    codes = [a["text"] if isinstance(a, dict) else getattr(a, "code", a) for a in answers]
    assert codes == ["a0", "b0", "a1", "muted", "a2", "rate_limited", "b1", "rate_limited"]
    stored = [m.text async for m in ChatMessage.objects.order_by("id")]
    assert stored == ["a0", "b0", "a1", "a2", "b1"]
    # The next batch counts what the last one stored.
    with pytest.raises(chat.ChatError) as caught:
        await chat.apost(ann, "lobby", "a5")
    assert caught.value.code == "rate_limited"


async def test_a_burst_is_stored_with_fewer_writes_than_messages(
    batches: Any, db_thread_queries: CaptureQueriesContext
) -> None:
    batches(size=50, window_ms=50)
    users = await _users(10)
    stored_before = CHAT_MESSAGES.labels("lobby")._value.get()
    batches_before = _batches_counted()
    start = len(db_thread_queries.captured_queries)
    answers = await _post_all([(users[i % 10], f"m{i}") for i in range(100)])
    assert all(isinstance(a, dict) for a in answers)
    queries = db_thread_queries.captured_queries[start:]
    inserts = [q for q in queries if q["sql"].upper().startswith("INSERT")]
    assert len(inserts) == 2, inserts  # 100 messages, batches of 50: one INSERT each
    assert len(queries) < 20, [q["sql"] for q in queries]
    assert await ChatMessage.objects.acount() == 100
    assert CHAT_MESSAGES.labels("lobby")._value.get() == stored_before + 100, "each counted"
    assert _batches_counted() == batches_before + 2


def _batches_counted() -> float:
    for metric in CHAT_BATCH_MESSAGES.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                return sample.value
    raise AssertionError("no batch count")


async def test_the_hub_encodes_each_frame_once_for_every_socket() -> None:
    """On plain ASGI each socket is sent the text itself: the same object, encoded once."""
    sent: dict[int, list[Any]] = {0: [], 1: [], 2: []}

    def sender(index: int) -> Any:
        async def send(message: dict[str, Any]) -> None:
            sent[index].append(message["text"])

        return send

    hub = LobbyHub()
    hub.sockets = [Socket(sender(i), 1 << 20) for i in sent]
    frames = [{"type": "chat.message", "id": i, "text": f"m{i}"} for i in range(3)]
    await hub.deliver_many(frames)
    assert [len(texts) for texts in sent.values()] == [3, 3, 3]
    for i in range(3):
        assert sent[0][i] is sent[1][i] is sent[2][i]
        assert f'"text":"m{i}"' in sent[0][i]
