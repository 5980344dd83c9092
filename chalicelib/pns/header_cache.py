"""An HPACK encoder that sends the headers repeated on every push as cached table indexes.

hpack's encoder searches its tables, Huffman-codes literals and logs every header of every
block. A push repeats most of its headers (`:method`, `:authority`, `apns-topic`, the
provider token, ...); only a few change (`:path` with the device token, `apns-id`, ...).
Once a block has put the repeated ones in the dynamic table, each of them is one indexed
field whose bytes never change, as long as the table does not change either.

The table changes only when a block adds an entry or the peer resizes it. So the fields that
change are sent as never-indexed literals (they add nothing), and a block is built from the
cache only when every repeated header has a cached index and no resize is pending. Any other
block (the first on a connection, a rotated token, a new topic, a resize) goes through
hpack's own encoder, which updates the table, and the cache is rebuilt from the table as it
then is: an index is never used after the entries it counts over have changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hpack import Encoder, HeaderTuple, NeverIndexedHeaderTuple
from hpack.hpack import encode_integer
from hpack.table import HeaderTable

NEVER_INDEXED = 0x10  # RFC 7541, 6.2.3: literal never indexed, 4-bit name index prefix
INDEXED = 0x80  # RFC 7541, 6.1: indexed header field, 7-bit index prefix


class CachedIndexEncoder(Encoder):
    """hpack's Encoder, with repeated headers sent as cached indexes, and the headers named
    in `never_indexed` (and any NeverIndexedHeaderTuple) as never-indexed literals."""

    def __init__(self, never_indexed: frozenset[bytes] = frozenset()) -> None:
        super().__init__()
        self._never_indexed = never_indexed
        self._indexed: dict[tuple[bytes, bytes], bytes] = {}

    def encode(self, headers: Iterable[Any], huffman: bool = True) -> bytes:
        headers = list(headers)  # h2 hands 2-tuples and HeaderTuples
        if not self.header_table.resized:
            block = self._from_cache(headers)
            if block is not None:
                return block
        marked = [NeverIndexedHeaderTuple(*h) if self._per_push(h) else h for h in headers]
        block = super().encode(marked, huffman)
        self._indexed = {
            (header[0], header[1]): _integer(index, 7, INDEXED)
            for header in headers
            if not self._per_push(header) and (index := _full_match(self.header_table, header))
        }
        return block

    def _per_push(self, header: Any) -> bool:
        return header[0] in self._never_indexed or (
            isinstance(header, HeaderTuple) and not header.indexable
        )

    def _from_cache(self, headers: list[Any]) -> bytes | None:
        """The block from cached indexes and literals; None if a repeated header is not
        cached."""
        fields = []
        for header in headers:
            if self._per_push(header):
                fields.append(_never_indexed(header[0], header[1]))
                continue
            field = self._indexed.get((header[0], header[1]))
            if field is None:
                return None
            fields.append(field)
        return b"".join(fields)


def _full_match(table: HeaderTable, header: tuple[bytes, bytes]) -> int | None:
    match = table.search(header[0], header[1])
    return match[0] if match is not None and match[2] is not None else None


def _integer(value: int, prefix_bits: int, flags: int = 0) -> bytes:
    encoded = encode_integer(value, prefix_bits)
    encoded[0] |= flags
    return bytes(encoded)


def _string(value: bytes) -> bytes:
    """A string literal without Huffman coding (a few bytes more, no CPU): its length with
    a 7-bit prefix, then itself."""
    size = len(value)
    return (bytes((size,)) if size < 127 else _integer(size, 7)) + value


def _name_field(name: bytes) -> bytes:
    """A never-indexed literal's name: its static table index where it has one (`:path`,
    `content-length`), else the name as a literal (never the dynamic table, whose indexes
    are only trusted where the cache checks them)."""
    entry = HeaderTable.STATIC_TABLE_MAPPING.get(name)
    if entry is not None:
        return _integer(entry[0], 4, NEVER_INDEXED)
    return bytes((NEVER_INDEXED,)) + _string(name)


_NAME_FIELDS: dict[bytes, bytes] = {}


def _never_indexed(name: bytes, value: bytes) -> bytes:
    """RFC 7541, 6.2.3: the name field (cached: our code sends a handful of names), then the
    value."""
    prefix = _NAME_FIELDS.get(name)
    if prefix is None:
        prefix = _NAME_FIELDS.setdefault(name, _name_field(name))
    return prefix + _string(value)
