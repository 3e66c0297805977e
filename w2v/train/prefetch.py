"""Make the next batch while the engine trains on this one.

With ``workers=0`` the stream runs in the training process. The CPU kernel releases the GIL while
it updates the tables, so a background thread can build the next batch meanwhile instead of the
two phases alternating. The order of batches is unchanged (one producer), so runs stay
deterministic and resumable.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class Prefetcher(Iterator[T]):
    """Iterate ``source`` in a background thread, at most ``depth`` items ahead; ``close()`` stops it."""

    def __init__(self, source: Iterable[T], depth: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(iter(source),), daemon=True, name="w2v-prefetch")
        self._thread.start()

    def _fill(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # re-raised in the training thread, where it can be reported
            self._put(exc)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __next__(self) -> T:
        item = self._queue.get()
        if item is _DONE:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the producer (an interrupted epoch) and wait for it."""
        self._stop.set()
        self._thread.join(timeout=10)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
