"""One server for a class: caches bounded by bytes and by idle time, and the state of sessions
whose browser went away given back (Streamlit only; the worker processes are offload's).

:class:`Shelf` holds the big arrays the pages share (decoded audio, spectrograms): at most
``INVMEL_CACHE_MB`` (512) MiB together, each dropped ``INVMEL_CACHE_IDLE_S`` (90) s after its
last use, so a class's 4-minute inputs do not stay in the server once it has gone home.
:func:`install` (app.py, every run; it acts once) has :func:`invmel_core.app.offload.housekeeping`
sweep the shelves and end expired sessions every few seconds: Streamlit keeps a disconnected
session for ``server.disconnectedSessionTTL`` and then only forgets it when another session
disconnects, never shutting it down (its uploads and media files stay), so with every browser
closed a class's results would stay resident indefinitely.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Callable

import numpy as np

from invmel_core.app import offload

LOG = logging.getLogger("invmel.server")
ENV_CACHE_MB = "INVMEL_CACHE_MB"
ENV_CACHE_IDLE_S = "INVMEL_CACHE_IDLE_S"
CACHE_MB = 512
CACHE_IDLE_S = 90.0
MIB = 1 << 20


def nbytes(value) -> int:
    """Bytes held by a cached value: arrays and bytes, inside tuples and dataclasses (one level)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v) for v in value)
    fields = getattr(value, "__dict__", None)
    return sum(nbytes(v) for v in fields.values() if isinstance(v, (np.ndarray, bytes))) if fields else 0


class Shelf:
    """A cache shared by every session: ``shelf.get(key, make)`` returns the value for ``key``,
    made once by ``make()`` (callers asking for a key being made wait for it). Values are
    shared, not copied (make arrays read-only). All shelves together hold at most
    ``INVMEL_CACHE_MB`` MiB (least recently used first out) and nothing unused for
    ``INVMEL_CACHE_IDLE_S`` seconds (:meth:`sweep`, run by the housekeeping)."""

    _all: list["Shelf"] = []
    _lock = threading.RLock()

    def __init__(self, name: str):
        self.name = name
        self._items: OrderedDict = OrderedDict()     # key -> (value, bytes, last use)
        self._making: dict = {}                        # key -> lock held while it is made
        with Shelf._lock:
            Shelf._all.append(self)

    def get(self, key, make: Callable[[], object]):
        with Shelf._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items[key] = (hit[0], hit[1], time.monotonic())
                self._items.move_to_end(key)
                return hit[0]
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with Shelf._lock:
                hit = self._items.get(key)
            if hit is not None:
                return self.get(key, make)
            try:
                value = make()
            finally:
                with Shelf._lock:
                    self._making.pop(key, None)
            with Shelf._lock:
                self._items[key] = (value, nbytes(value), time.monotonic())
                Shelf._bound()
            return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with Shelf._lock:
            self._items.clear()

    @classmethod
    def total_bytes(cls) -> int:
        with cls._lock:
            return sum(size for shelf in cls._all for _, size, _ in shelf._items.values())

    @classmethod
    def _bound(cls) -> None:
        limit = offload._env_number(ENV_CACHE_MB, CACHE_MB) * MIB
        while cls.total_bytes() > limit and sum(len(s) for s in cls._all) > 1:   # one big value stays
            shelf = min((s for s in cls._all if s._items), key=lambda s: next(iter(s._items.values()))[2])
            shelf._items.popitem(last=False)

    @classmethod
    def sweep(cls, now: float | None = None) -> int:
        """Drop what nobody used for ``INVMEL_CACHE_IDLE_S`` seconds; returns how many."""
        now = time.monotonic() if now is None else now
        idle = float(offload._env_number(ENV_CACHE_IDLE_S, CACHE_IDLE_S))
        dropped = 0
        with cls._lock:
            for shelf in cls._all:
                for key in [k for k, (_, _, used) in shelf._items.items() if now - used >= idle]:
                    del shelf._items[key]
                    dropped += 1
        return dropped

    @classmethod
    def clear_all(cls) -> None:
        with cls._lock:
            for shelf in cls._all:
                shelf._items.clear()


def end_expired_sessions() -> int:
    """Shut down the sessions Streamlit keeps for reconnecting past their time
    (``server.disconnectedSessionTTL``): their state, uploads and media files go. Returns how
    many. Uses Streamlit's session storage (1.67: a TTL cache that forgets an expired entry
    only on a write); does nothing if that is not there."""
    try:
        from streamlit import runtime

        if not runtime.exists():
            return 0
        manager = runtime.get_instance()._session_mgr
        storage = getattr(manager, "_session_storage", None)
        cache = getattr(storage, "_cache", None)
        if cache is None or not hasattr(cache, "expire"):
            return 0
        with getattr(manager, "_storage_lock", threading.Lock()):
            expired = cache.expire()
    except Exception:  # noqa: BLE001  (Streamlit's internals moved: keep serving)
        LOG.debug("could not look for expired sessions", exc_info=True)
        return 0
    for _id, info in expired:
        try:
            info.session.shutdown()
            # Its state (inputs, results) goes now, by reference count: a session that was
            # alive at the start-up gc.freeze (the server's first) is never collected.
            state = getattr(info.session, "_session_state", None)
            if state is not None:
                state.clear()
        except Exception:  # noqa: BLE001
            LOG.debug("could not shut an expired session down", exc_info=True)
    _forget_files(runtime.get_instance(), manager)
    return len(expired)


def _forget_files(rt, manager) -> None:
    """Files of sessions no longer known: the media manager deletes a download (``.npy``,
    ``.wav``: 60 MB for a 4-minute input) only on its second look after its session went, and
    nothing looks once everyone has gone; a session dropped without its shutdown (seen with
    Streamlit 1.67) keeps its media and upload until they are cleared here."""
    try:
        known = {info.session.id for info in manager.list_sessions()}
        media = rt.media_file_mgr
        for session_id in [sid for sid in list(getattr(media, "_files_by_session_and_coord", {})) if sid not in known]:
            media.clear_session_refs(session_id)      # a session gone without its shutdown
        media.remove_orphaned_files()
        media.remove_orphaned_files()                 # downloads go on the second look
        uploads = rt.uploaded_file_mgr
        stored = getattr(uploads, "file_storage", None)
        if isinstance(stored, dict):
            for session_id in [sid for sid in list(stored) if sid not in known]:
                uploads.remove_session_files(session_id)
    except Exception:  # noqa: BLE001  (Streamlit's internals moved: keep serving)
        LOG.debug("could not drop orphaned files", exc_info=True)


def _chore() -> None:
    dropped = Shelf.sweep()
    ended = end_expired_sessions()
    if dropped or ended:
        # A session's objects hold cycles (element trees, frames); nothing runs a script
        # once everyone has gone, so Streamlit's own collection after each run does not come.
        gc.collect()
        LOG.info("gave back %d cached values and %d expired sessions", dropped, ended)


_installed = False


def install() -> None:
    """Sweep the shelves and end expired sessions in the housekeeping, from now on (once)."""
    global _installed
    if not _installed and os.environ.get("INVMEL_HOUSEKEEPING", "1") != "0":
        _installed = True
        offload.every_while(_chore)
