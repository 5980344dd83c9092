"""Keeping a payload under the push service's size limit by shortening free text."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..notification import encode
from .base import PayloadTooLargeError

ELLIPSIS = "\u2026"

Texts = Mapping[str, str | None]
Render = Callable[[Texts], dict[str, Any]]


def fit_payload(render: Render, texts: Texts, limit: int) -> dict[str, Any]:
    """`render(texts)`, or, when that is over `limit` bytes, render of the texts shortened
    in their order (each ending with an ellipsis, as long as still fits). Raises
    PayloadTooLargeError (with the smallest size reached) when even that is too big.

    `render` must use each text verbatim (or not at all), so that a shorter text never gives
    a larger payload: that makes the search for the longest fitting text a bisection.
    """
    payload = render(texts)
    size = len(encode(payload))
    if size <= limit:
        return payload
    current = dict(texts)
    for name, value in texts.items():
        if not value:
            continue
        payload, size = _shorten(render, current, name, value, limit)
        if size <= limit:
            return payload
    raise PayloadTooLargeError(size, limit)


def _shorten(
    render: Render, texts: dict[str, str | None], name: str, value: str, limit: int
) -> tuple[dict[str, Any], int]:
    """Longest `value[:k] + ELLIPSIS` that fits (left in `texts[name]`), or the bare
    ellipsis when nothing does; returns that payload and its size."""

    def attempt(keep: int) -> tuple[dict[str, Any], int]:
        # Slicing a str never splits a code point, so the result is valid UTF-8.
        texts[name] = value[:keep] + ELLIPSIS
        payload = render(texts)
        return payload, len(encode(payload))

    best = attempt(0)
    if best[1] > limit:
        return best
    low, high = 0, len(value) - 1  # value[:low] fits; the full value did not
    while low < high:
        middle = (low + high + 1) // 2
        result = attempt(middle)
        if result[1] <= limit:
            low, best = middle, result
        else:
            high = middle - 1
    texts[name] = value[:low] + ELLIPSIS
    return best
