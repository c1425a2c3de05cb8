"""What every hardening test asks of a refusal: an InputError (not a subclass that hides a crash),
with a message matching ``match``, within HANG_BOUND_S seconds."""

from __future__ import annotations

import time

import pytest

from invmel_core import InputError

HANG_BOUND_S = 2.0  # the issues' bound: a refusal comes within 2 s


def refused(call, match: str) -> str:
    """Run ``call``; it must raise exactly :class:`InputError` matching ``match``, in time. The message."""
    start = time.perf_counter()
    with pytest.raises(InputError, match=match) as info:
        call()
    assert type(info.value) is InputError
    assert time.perf_counter() - start < HANG_BOUND_S
    return str(info.value)
