"""Upload slots: taken without waiting, refused with a Retry-After when all are held, given back whatever happens."""

from __future__ import annotations

import pytest

from dochooks.api.upload_slots import UploadSlots
from dochooks.errors import Busy
from dochooks.settings import from_env


def test_a_slot_beyond_the_bound_is_refused_at_once_and_every_slot_comes_back() -> None:
    slots = UploadSlots(2)
    with slots.hold(), slots.hold():
        with pytest.raises(Busy) as refused, slots.hold():
            pass
        assert refused.value.status == 503 and refused.value.retry_after >= 1
    with pytest.raises(RuntimeError), slots.hold():
        raise RuntimeError("the upload failed")
    assert slots.taken == 0


def test_the_bound_is_a_setting_with_its_environment_twin() -> None:
    assert from_env({}).max_concurrent_uploads == 4
    assert from_env({"DOCHOOKS_MAX_CONCURRENT_UPLOADS": "9"}).max_concurrent_uploads == 9
