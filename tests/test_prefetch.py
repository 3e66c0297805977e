"""The background batch maker: same order as the source, errors reach the trainer, close() stops it."""

from __future__ import annotations

import threading
import time

import pytest

from w2v.errors import W2VError
from w2v.train.prefetch import Prefetcher


def test_items_come_in_order_and_end():
    with Prefetcher(range(100), depth=3) as items:
        assert list(items) == list(range(100))


def test_a_source_error_is_raised_in_the_consumer():
    def source():
        yield 1
        raise W2VError("cannot read corpus.ids")

    with Prefetcher(source()) as items:
        assert next(items) == 1
        with pytest.raises(W2VError, match="cannot read"):
            next(items)


def test_close_stops_a_producer_that_is_ahead():
    made = []

    def source():
        for i in range(10_000):
            made.append(i)
            yield i

    items = Prefetcher(source(), depth=2)
    assert next(items) == 0
    items.close()
    time.sleep(0.3)
    n = len(made)
    time.sleep(0.3)
    assert len(made) == n <= 5  # bounded look-ahead, and nothing more after close
    assert not any(t.name == "w2v-prefetch" and t.is_alive() for t in threading.enumerate())
