"""Upload slots: taken without waiting, refused with a Retry-After when all are held, given back whatever happens."""

from __future__ import annotations

import contextlib

import pytest

from dochooks.errors import Busy
from dochooks.settings import from_env
from dochooks.web.upload_slots import UploadSlots


def test_a_slot_beyond_the_bound_is_refused_at_once_and_every_slot_comes_back() -> None:
    slots = UploadSlots(2)
    with slots.hold(1), slots.hold(2):
        for owner in (1, 3):
            with pytest.raises(Busy) as refused, slots.hold(owner):
                pass
            assert refused.value.status == 503 and refused.value.retry_after >= 1
    with pytest.raises(RuntimeError), slots.hold(1):
        raise RuntimeError("the upload failed")
    assert slots.taken == 0


@pytest.mark.parametrize(("size", "share"), [(1, 1), (2, 1), (4, 2), (5, 2), (10, 5)])
def test_one_owner_holds_half_the_slots_at_most_and_one_at_least(size: int, share: int) -> None:
    slots = UploadSlots(size)
    with contextlib.ExitStack() as held:
        for _ in range(share):
            held.enter_context(slots.hold(7))
        with pytest.raises(Busy, match="uploads are being received"), slots.hold(7):
            pass
        if share < size:
            with slots.hold(8):
                assert slots.taken == share + 1
    assert slots.taken == 0


def test_the_deadline_of_an_upload_body_is_a_setting_with_its_environment_twin() -> None:
    assert from_env({}).upload_seconds == 120
    assert from_env({"DOCHOOKS_UPLOAD_SECONDS": "30"}).upload_seconds == 30


def test_the_bound_is_a_setting_with_its_environment_twin() -> None:
    assert from_env({}).max_concurrent_uploads == 16
    assert from_env({"DOCHOOKS_MAX_CONCURRENT_UPLOADS": "9"}).max_concurrent_uploads == 9
