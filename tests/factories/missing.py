"""What a test does when a part of the machine it needs is missing: on a developer's machine
it skips, saying how to get the part; in CI (`CI` set, as `.ci/run` does) it fails, since CI
must run every test."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run every test")
    pytest.skip(f"{reason}; skipped outside CI")
