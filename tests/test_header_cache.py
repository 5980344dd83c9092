"""The cached-index HPACK encoder: every block it writes decodes (with hpack's own decoder, as
a peer's) to exactly the headers given, through token rotations, evictions and resizes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hpack import Decoder, NeverIndexedHeaderTuple

from chalicelib.pns.connection import PER_PUSH_HEADERS
from chalicelib.pns.header_cache import CachedIndexEncoder


def block(n: int, token: bytes = b"bearer first", topic: bytes = b"com.example.voip") -> list[Any]:
    """A push's headers as connection.py builds them."""
    return [
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":authority", b"api.push.apple.com"),
        (b":path", b"/3/device/" + b"%064x" % n),
        (b"apns-push-type", b"voip"),
        (b"apns-topic", topic),
        (b"apns-priority", b"10"),
        (b"apns-expiration", b"0"),
        (b"apns-id", b"%036d" % n),
        (b"authorization", token),
        (b"content-length", b"%d" % (100 + n)),
    ]


def as_pairs(headers: Iterable[Any]) -> list[tuple[bytes, bytes]]:
    return [(bytes(name), bytes(value)) for name, value in headers]


class Peer:
    """Both ends of one connection's header compression."""

    def __init__(self) -> None:
        self.encoder = CachedIndexEncoder(never_indexed=PER_PUSH_HEADERS)
        self.decoder = Decoder()

    def send(self, headers: list[Any]) -> bytes:
        encoded = self.encoder.encode(headers)
        decoded = self.decoder.decode(encoded, raw=True)
        assert as_pairs(decoded) == as_pairs(headers)
        return encoded


def test_a_warm_block_is_indexes_and_the_changing_values() -> None:
    peer = Peer()
    first = peer.send(block(0))
    entries = list(peer.decoder.header_table.dynamic_entries)
    warm = [peer.send(block(n)) for n in range(1, 20)]
    # nothing repeated is sent again, and the changing values never enter the table
    assert len(warm[0]) < len(first) - len(b"bearer first")
    assert list(peer.decoder.header_table.dynamic_entries) == entries
    # one byte per repeated header, and the four changing values as plain literals
    path = 1 + 1 + len(b"/3/device/") + 64  # static name index, value length, value
    expiration = 1 + 1 + len(b"apns-expiration") + 1 + len(b"0")  # name as a literal
    apns_id = 1 + 1 + len(b"apns-id") + 1 + 36
    content_length = 2 + 1 + 3  # static name index 28: two bytes with a 4-bit prefix
    assert len(warm[0]) == 7 + path + expiration + apns_id + content_length


def test_a_rotated_token_is_sent_in_full_then_indexed() -> None:
    peer = Peer()
    warm = [peer.send(block(n, b"bearer first")) for n in range(3)]
    peer.send(block(3, b"bearer second"))  # the new value as a literal, this once
    assert peer.decoder.header_table.dynamic_entries[0] == (b"authorization", b"bearer second")
    after = peer.send(block(4, b"bearer second"))
    assert len(after) == len(warm[-1])  # from the cache again
    peer.send(block(5, b"bearer first"))  # an older value, still in the table


def test_evictions_never_leave_a_stale_index() -> None:
    """Tokens of 600 bytes: a few fill the 4 KB table, so each rotation evicts entries the
    cache had indexes for (the topic, the authority, earlier tokens)."""
    peer = Peer()
    for rotation in range(40):
        token = b"bearer " + bytes([65 + rotation % 26]) * 600 + b"%d" % rotation
        topic = b"com.example.%d" % (rotation % 3)
        for n in range(3):
            peer.send(block(n, token, topic))


def test_a_token_larger_than_the_table_is_sent_as_a_literal_each_time() -> None:
    peer = Peer()
    huge = b"bearer " + b"x" * 5000  # never fits the 4 KB table
    sizes = [len(peer.send(block(n, huge))) for n in range(3)]
    assert min(sizes) > 5000 * 0.6  # never an index into a table that cannot hold it


def test_a_table_resized_by_the_peer_is_announced_and_rebuilt() -> None:
    peer = Peer()
    for n in range(3):
        peer.send(block(n))
    peer.encoder.header_table_size = 64  # a SETTINGS_HEADER_TABLE_SIZE from the peer
    resized = peer.send(block(3))
    assert resized[0] & 0xE0 == 0x20  # the block starts with the size update
    assert peer.decoder.header_table_size == 64
    for n in range(4, 8):
        peer.send(block(n))
    peer.encoder.header_table_size = 4096
    for n in range(8, 12):
        peer.send(block(n))


def test_a_header_marked_never_indexed_stays_out_of_the_table() -> None:
    peer = Peer()
    peer.send([*block(0), NeverIndexedHeaderTuple(b"x-secret", b"s0")])
    for n in range(1, 4):
        encoded = peer.send([*block(n), NeverIndexedHeaderTuple(b"x-secret", b"s%d" % n)])
        assert encoded.endswith(b"\x10\x08x-secret\x02s%d" % n)  # RFC 7541 6.2.3, raw
    names = {name for name, _ in peer.decoder.header_table.dynamic_entries}
    assert not names & (PER_PUSH_HEADERS | {b"x-secret"})
