"""Lobby-wide frames go through one hub per process: a burst reaches everyone, in order."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from tests.lobby.helpers import LobbyClient, make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_chat_burst_reaches_every_socket_in_the_same_order() -> None:
    users = [await sync_to_async(make_user)(f"u{i}") for i in range(20)]
    clients = [await LobbyClient(token).connect() for _, token in users]
    sent = 0
    for round_ in range(5):  # each user's chat limit is 5 per 5 s
        for index, client in enumerate(clients):
            await client.ws.send_to(text_data=json.dumps(
                {"type": "chat.send", "text": f"m{round_}-{index}"}))
            sent += 1
    orders = []
    for client in clients:
        ids: list[int] = []
        while len(ids) < sent:
            frame = await client.until(lambda f: f["type"] == "chat.message")
            ids.append(frame["id"])
        orders.append(ids)
    assert all(len(set(ids)) == sent for ids in orders), "every message, once"
    assert all(ids == orders[0] for ids in orders), "one order for everyone"
    for client in clients:
        await client.ws.disconnect()
