"""Tenants' patterns are priced before they are compiled: every shape of a costly pattern
is refused in well under a millisecond and a megabyte, and what is accepted compiles small."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dochooks.documents import patterns
from dochooks.documents.patterns import MAX_REPEAT, MAX_SIZE, PatternRefused, compiled, size_of


@pytest.mark.parametrize(
    "pattern",
    [
        "a{99999999}",  # the review's pattern: about 24 GB to compile
        "a{1000000}",
        "a{1001}",
        "a{1001,}",
        "a{2,1001}",
        "a{,1001}",
        "a{5000}?",
        "a{5000}+",
        "(?:ab){5000}",
        "[a-z]{5000}",
        "\\d{5000}",
        "(?<=x{5000})y",
        "(?:a{40}){60}",  # each count small, the product 2,400 spelled out
        "(?:(?:a{10}){10}){30}",
        "x(?:a{1000}|b)(?:c{1000})",
    ],
)
def test_repeats_that_would_spell_out_too_much_are_refused_before_compiling(pattern: str) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(PatternRefused, match=r"repeat|too large"):
        compiled(pattern)
    took = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert took < 0.1 and peak < 1_000_000, (took, peak)


@pytest.mark.parametrize(
    ("pattern", "refused_for"),
    [
        ("(" * 40 + "a" + ")" * 40, "nests"),
        ("(?:" * 40 + "a*" + ")*" * 40, "nests"),
        ("x" * 1001, "characters long"),
        ("[" + "".join(chr(0x100 + i) for i in range(300)) + "]", "character class"),
        ("[" + "".join(f"{chr(0x100 + 2 * i)}-{chr(0x101 + 2 * i)}" for i in range(300)) + "]", "character class"),
        ("(a", "not a regular expression"),
        ("\\p{L}+", "brace"),  # `regex` only: the parser cannot price it
        ("\\pL+", "not a regular expression"),
        ("(?R)", "not a regular expression"),  # recursion
        ("\\g<0>", "not a regular expression"),
        ("\\Qa{99999999}\\E", "not a regular expression"),
        ("(?V1)[[a-z]--[aeiou]]", "not a regular expression"),
        # What `regex` reads as a repeat and the parser as text: its price would be wrong.
        ("(?x)a{ 99999999 }", "verbose"),
        ("(?x:a #c\n{99999999})", "verbose"),
        ("(?i-x)a", "verbose"),
        ("a{ 99999999 }", "brace"),
        ("(?:ab){e<=2}", "brace"),  # fuzzy matching
        ("[{]", "brace"),
        ("a}", "brace"),
    ],
)
def test_nesting_length_classes_and_what_cannot_be_priced_are_refused(pattern: str, refused_for: str) -> None:
    with pytest.raises(PatternRefused, match=refused_for):
        compiled(pattern)


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        ("Total:\\s*(\\S+)", "x\nTOTAL:  12.50 EUR", "12.50"),
        ("(?<=No\\.\\s)\\d+", "Invoice No. 4711", "4711"),
        ("\\d{4}-\\d{2}-\\d{2}", "due 2026-11-30", "2026-11-30"),
        ("a{1000}", "a" * 1000, "a" * 1000),
        ("(?:a{1,1000}){1,1000}b", "aaab", "aaab"),  # only minimums are spelled out
        ("\\{(\\w+)\\}", "{ref}", "ref"),
        ("^iban: (\\S+)$", "x\nIBAN: DE02\ny", "DE02"),  # case-insensitive, multi-line
        ("(?P<n>a)(?P=n)b", "xaab", "a"),
    ],
)
def test_patterns_within_the_limits_compile_and_match_as_regex_does(pattern: str, text: str, found: str) -> None:
    match = compiled(pattern).search(text)
    assert match is not None and (match.group(1) if match.groups() else match.group(0)) == found


ATOMS = st.sampled_from(["a", "\\d", "[a-z]", "(?:ab)", "(x|y)", ".", "\\s"])


@st.composite
def repeated(draw: st.DrawFn, depth: int = 0) -> str:
    """A pattern of atoms under counted repeats, nested up to three deep."""
    inner = draw(ATOMS) if depth >= 3 or draw(st.booleans()) else f"(?:{draw(repeated(depth + 1))})"
    low = draw(st.integers(0, 3000))
    high = draw(st.one_of(st.none(), st.integers(low, low + 3000)))
    count = f"{{{low}}}" if high is None else f"{{{low},{high}}}"
    return inner + count + draw(st.sampled_from(["", "?", "+"]))


@settings(max_examples=300, deadline=None)
@given(pattern=repeated())
def test_every_counted_pattern_is_refused_or_compiles_small(pattern: str) -> None:
    """Whatever the counts and nesting: refused at once, or compiled within a bounded size."""
    tracemalloc.start()
    try:
        try:
            size = size_of(pattern)
        except PatternRefused:
            return
        patterns.compiled.cache_clear()
        compiled(pattern)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size <= MAX_SIZE
    assert peak < 8_000_000, (pattern, peak)  # about 250 bytes per item spelled out, with room


def test_counts_above_the_limit_are_always_refused() -> None:
    for count in (MAX_REPEAT + 1, 10**6, 10**9, 2**32):
        with pytest.raises(PatternRefused):
            size_of(f"a{{{count}}}")
        with pytest.raises(PatternRefused):
            size_of(f"a{{1,{count}}}")
