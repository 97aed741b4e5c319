"""Notifications: live to every tab, stored for offline users, paged, marked read."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from lobby import notifications
from lobby.models import Notification
from tests.lobby.helpers import (
    LobbyClient,
    aget,
    anew_user,
    assert_error,
    bearer,
    make_user,
    post_json,
)

# Sync tests roll back (fast); async and threaded tests commit for real.
pytestmark = pytest.mark.django_db
TX = pytest.mark.django_db(transaction=True)


@TX
async def test_notify_from_sync_code_reaches_every_tab_of_that_user_only() -> None:
    ann, ann_token = await anew_user("ann")
    _, bob_token = await anew_user("bob")
    tabs = [await LobbyClient(ann_token).connect() for _ in range(3)]
    bob = await LobbyClient(bob_token).connect()
    stored = await sync_to_async(notifications.notify)(ann.pk, "friend", {"who": "bob"})
    for tab in tabs:
        frame = await tab.of_type("notification")
        assert frame == {
            "type": "notification", "id": stored.pk, "kind": "friend",
            "data": {"who": "bob"}, "ts": frame["ts"],
        }
        assert frame["ts"].endswith("Z")
    await bob.nothing_of("notification")
    for c in (*tabs, bob):
        await c.disconnect()


@TX
async def test_anotify_from_async_code() -> None:
    ann, token = await anew_user("ann")
    tab = await LobbyClient(token).connect()
    stored = await notifications.anotify(ann.pk, "hello", {"n": 1})
    frame = await tab.of_type("notification")
    assert frame["id"] == stored.pk and frame["data"] == {"n": 1}
    assert await Notification.objects.filter(user=ann).acount() == 1
    await tab.disconnect()


@TX
async def test_offline_user_sees_notifications_on_next_visit() -> None:
    ann, token = await anew_user("ann")
    await notifications.anotify(ann.pk, "match_result", {"place": 1})
    listing = (await aget("/api/notifications", token)).json()
    assert listing["unread"] == 1
    assert [n["kind"] for n in listing["notifications"]] == ["match_result"]
    assert listing["notifications"][0]["read"] is False


def test_listing_is_unread_first_then_newest_with_cursor_pages() -> None:
    ann, token = make_user("ann")
    made = [notifications.notify(ann.pk, "k", {"i": i}).pk for i in range(6)]
    Notification.objects.filter(pk__in=made[3:]).update(read=True)  # newest three read
    client = Client(headers=bearer(token))
    page1 = client.get("/api/notifications?limit=4").json()
    order = [n["id"] for n in page1["notifications"]]
    assert order == [made[2], made[1], made[0], made[5]]
    assert page1["unread"] == 3
    page2 = client.get(f"/api/notifications?limit=4&before={page1['next_before']}").json()
    assert [n["id"] for n in page2["notifications"]] == [made[4], made[3]]
    assert page2["next_before"] is None
    # Cursor in the middle of the unread part.
    page = client.get(f"/api/notifications?limit=2&before={made[1]}").json()
    assert [n["id"] for n in page["notifications"]] == [made[0], made[5]]


@TX
async def test_mark_read_by_ids_and_all_updates_other_tabs() -> None:
    ann, token = await anew_user("ann")
    first = await notifications.anotify(ann.pk, "a", {})
    await notifications.anotify(ann.pk, "b", {})
    other_tab = await LobbyClient(token).connect()
    answer = await sync_to_async(post_json)(
        Client(), "/api/notifications/read", {"ids": [first.pk]}, **bearer(token)
    )
    assert answer.status_code == 200
    assert answer.json() == {"updated": 1, "unread": 1}
    pushed = await other_tab.of_type("notifications.read")
    assert pushed["ids"] == [first.pk] and pushed["unread"] == 1
    answer = await sync_to_async(post_json)(
        Client(), "/api/notifications/read", {"all": True}, **bearer(token)
    )
    assert answer.json() == {"updated": 1, "unread": 0}
    assert await Notification.objects.filter(read=False).acount() == 0
    await other_tab.disconnect()


def test_cannot_read_someone_elses_notifications() -> None:
    ann, _ = make_user("ann")
    _, bob_token = make_user("bob")
    mine = notifications.notify(ann.pk, "k", {})
    answer = post_json(Client(), "/api/notifications/read", {"ids": [mine.pk]},
                       **bearer(bob_token))
    assert answer.json()["updated"] == 0
    mine.refresh_from_db()
    assert not mine.read
    # Someone else's notification is no cursor either.
    assert_error(Client(headers=bearer(bob_token)).get(f"/api/notifications?before={mine.pk}"),
                 400, "invalid")


@pytest.mark.parametrize(
    "body",
    [{}, {"ids": []}, {"ids": "1"}, {"ids": [1, "2"]}, {"all": False}, {"all": 1},
     {"ids": [1], "all": True}, {"ids": list(range(501))}, {"other": 1}],
)
def test_mark_read_bad_bodies(body: Any) -> None:
    _, token = make_user("ann")
    answer = post_json(Client(), "/api/notifications/read", body, **bearer(token))
    assert_error(answer, 400, "invalid")


def test_notifications_need_login_and_valid_params() -> None:
    assert_error(Client().get("/api/notifications"), 401, "not_authenticated")
    assert_error(post_json(Client(), "/api/notifications/read", {"all": True}), 401)
    _, token = make_user("ann")
    client = Client(headers=bearer(token))
    for query in ("limit=0", "limit=x", "before=abc", "limit=101"):
        assert_error(client.get(f"/api/notifications?{query}"), 400, "invalid")
    assert_error(post_json(client, "/api/notifications/read", "{nope"), 400, "bad_json")
    assert_error(client.get("/api/notifications/read"), 405, "method_not_allowed")


def test_cookie_post_needs_csrf_but_bearer_does_not() -> None:
    client = Client(enforce_csrf_checks=True)
    answer = post_json(client, "/api/session/guest", {"name": "ann"})
    assert answer.status_code == 201
    assert_error(post_json(client, "/api/notifications/read", {"all": True}), 403, "csrf_failed")
    token = answer.json()["token"]
    ok = post_json(Client(enforce_csrf_checks=True), "/api/notifications/read", {"all": True},
                   **bearer(token))
    assert ok.status_code == 200
