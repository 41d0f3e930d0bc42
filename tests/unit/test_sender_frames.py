"""The sender process's frames (delivery/sender_process.py): whole however the stream cuts them."""

from __future__ import annotations

import asyncio
from typing import Any

from dochooks.delivery.sender_process import Frames


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        pass


def test_frames_arrive_whole_however_the_stream_cuts_them_and_go_out_in_one_write_a_turn() -> None:
    async def scenario() -> list[bytes]:
        sending = Frames(lambda head, body: None, lambda: None)
        transport = Transport()
        sending.connection_made(transport)  # type: ignore[arg-type]
        sending.send([1, "http://a.test/", {"A": "b"}], b'{"x":1}')
        sending.send([2, "http://a.test/", {}], b"")
        sending.send([3, "http://b.test/", {"C": "\u00e9"}], bytes(range(256)))
        await asyncio.sleep(0)  # the turn ends: one write carries the three
        return transport.written

    written = asyncio.run(scenario())
    assert len(written) == 1
    stream = written[0]

    got: list[tuple[Any, bytes]] = []
    receiving = Frames(lambda head, body: got.append((head, body)), lambda: None)
    for size in (1, 2, 3, 7, len(stream)):  # cut in every way, frames straddling the pieces
        got.clear()
        for at in range(0, len(stream), size):
            receiving.data_received(stream[at : at + size])
        assert got == [
            ([1, "http://a.test/", {"A": "b"}], b'{"x":1}'),
            ([2, "http://a.test/", {}], b""),
            ([3, "http://b.test/", {"C": "\u00e9"}], bytes(range(256))),
        ]


def test_a_lost_connection_is_reported_once_it_happens() -> None:
    lost: list[bool] = []
    frames = Frames(lambda head, body: None, lambda: lost.append(True))
    frames.connection_made(Transport())  # type: ignore[arg-type]
    assert lost == []
    frames.connection_lost(None)
    assert lost == [True]
