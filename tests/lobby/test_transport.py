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


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 4096])
def test_unmask_inverts_a_clients_masking(size: int) -> None:
    from load_tests.wsclient import client_frame
    from lobby.transport import unmask

    payload = bytes((i * 7) % 256 for i in range(size))
    frame = client_frame(0x2, payload)
    offset = 2 if size < 126 else 4
    key, masked = frame[offset : offset + 4], frame[offset + 4 :]
    assert unmask(masked, key) == payload
