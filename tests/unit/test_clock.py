"""The payload's times: iso() against datetime's own formatting, and parse_iso() its inverse."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from dochooks.clock import iso, parse_iso

# From 1900 to 2200, in milliseconds since the epoch.
MILLISECONDS = st.integers(min_value=-2_208_988_800_000, max_value=7_258_118_400_000)


@given(MILLISECONDS)
def test_iso_writes_what_datetime_writes_and_parse_iso_reads_it_back(ms: int) -> None:
    expected = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert iso(ms) == expected
    assert parse_iso(expected) == ms


def test_iso_of_nothing_is_nothing_and_known_instants_read_as_expected() -> None:
    assert iso(None) is None
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(-1) == "1969-12-31T23:59:59.999Z"
    assert iso(1_796_062_778_641) == "2026-11-30T18:19:38.641Z"
