"""Prebuilt WebSocket frames are what a real client parser accepts."""

from __future__ import annotations

import pytest
from websockets.frames import Opcode
from websockets.protocol import Protocol, Side, State

from lobby.transport import frame_writer, websocket_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
@pytest.mark.parametrize("text", [False, True])
def test_frames_parse_as_one_whole_message(size: int, text: bool) -> None:
    payload = (b"x" if text else bytes(range(256))[:1]) * size
    client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(websocket_frame(payload, text=text))
    events = client.events_received()
    assert len(events) == 1
    frame = events[0]
    assert frame.fin and frame.opcode == (Opcode.TEXT if text else Opcode.BINARY)
    assert frame.data == payload


def test_no_writer_outside_daphne() -> None:
    async def send(message: dict[str, object]) -> None:
        return None

    assert frame_writer(send) is None
