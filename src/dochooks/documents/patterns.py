"""Tenants' regular expressions, priced before they are compiled.

The `regex` engine runs them (its timeout bounds a match, and it releases the GIL while
it matches), but compiling spells out counted repeats: `a{99999999}` would ask for about
24 GB before any timeout applies. So a pattern is first parsed, not compiled, by the
standard library's parser (strict: an unknown escape is an error, not a literal) and
refused unless it is short, its repeat counts and nesting are small, its character
classes are small, and its size with every repeat spelled out is bounded. Only then is it
compiled. (The parser is private to the standard library, but the only one that reads
`regex`'s syntax without compiling; tests/unit/test_patterns.py pins what it must do.)

Where the two read a pattern differently, the price would be wrong: `regex` reads
`(?x)a{ 99999999 }` as a repeat, the parser as literal text. So syntax only `regex` knows
(fuzzy matching, recursion, `\\p{..}`) is refused, and so are verbose mode and every brace
that is not a plain count: a literal brace is written `\\{`."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

import regex

from dochooks.errors import InvalidInput

FLAGS = regex.IGNORECASE | regex.MULTILINE
MAX_CHARS = 1000  # characters in one pattern
MAX_REPEAT = 1000  # any count in {m,n}
MAX_NESTING = 32  # groups, repeats and lookarounds inside one another
MAX_CLASS_ITEMS = 256  # characters, ranges and categories in one [...] class
MAX_SIZE = 2000  # the pattern's size with every repeat spelled out to its minimum
CACHED = 64  # compiled patterns kept; each is at most MAX_SIZE, a few hundred KiB

_COUNT = re.compile(r"\{(?:\d+(?:,\d*)?|,\d+)\}")
_VERBOSE = re.compile(r"\(\?[a-zA-Z-]*x")
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}


class PatternRefused(InvalidInput):
    """A pattern that is not valid, or would cost more than a tenant's pattern may; the
    detail reads after "the pattern ..."."""


def size_of(pattern: str) -> int:
    """What compiling the pattern would cost, in parsed items with repeats spelled out;
    PatternRefused if it is malformed or over any limit."""
    if len(pattern) > MAX_CHARS:
        raise PatternRefused(f"is {len(pattern)} characters long; at most {MAX_CHARS}")
    _check_spelling(pattern)
    try:
        parsed = _parser.parse(pattern, re.IGNORECASE | re.MULTILINE)
    except re.error as exc:
        raise PatternRefused(f"is not a regular expression this service runs: {exc}") from None
    except (RecursionError, OverflowError, ValueError) as exc:
        raise PatternRefused(f"is too deeply nested or too large: {type(exc).__name__}") from None
    return _size(parsed.data, 1)


def _check_spelling(pattern: str) -> None:
    """Refuse what `regex` and the parser could read differently: verbose mode, and braces
    other than a plain count such as {3}, {2,5}, {,5} or {2,}."""
    if _VERBOSE.search(pattern):
        raise PatternRefused("uses verbose mode (?x), which this service does not run")
    at = 0
    while at < len(pattern):
        char = pattern[at]
        if char == "\\":
            at += 2
            continue
        if char == "{" and (count := _COUNT.match(pattern, at)):
            at = count.end()
            continue
        if char in "{}":
            raise PatternRefused(f"has a brace that is not a count at position {at}; write a literal brace as \\{char}")
        at += 1


def _size(items: Iterable[tuple[Any, Any]], depth: int) -> int:
    if depth > MAX_NESTING:
        raise PatternRefused(f"nests more than {MAX_NESTING} groups or repeats")
    total = 0
    for op, arg in items:
        if op in _REPEATS:
            low, high, sub = arg
            for count in (low, high):
                if count != sre.MAXREPEAT and count > MAX_REPEAT:
                    raise PatternRefused(f"repeats {count} times; at most {MAX_REPEAT}")
            total += max(low, 1) * _size(sub, depth + 1)  # the engine spells out the minimum
        elif op is sre.SUBPATTERN:
            total += 1 + _size(arg[-1], depth + 1)
        elif op is sre.BRANCH:
            total += 1 + sum(_size(branch, depth + 1) for branch in arg[1])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            total += 1 + _size(arg[1], depth + 1)
        elif op is sre.ATOMIC_GROUP:
            total += 1 + _size(arg, depth + 1)
        elif op is sre.GROUPREF_EXISTS:
            _, yes, no = arg
            total += 1 + _size(yes, depth + 1) + (_size(no, depth + 1) if no else 0)
        elif op is sre.IN:
            if len(arg) > MAX_CLASS_ITEMS:
                raise PatternRefused(f"has a character class of {len(arg)} items; at most {MAX_CLASS_ITEMS}")
            total += 1
        else:
            total += 1
        if total > MAX_SIZE:
            raise PatternRefused(f"is too large once its repeats are spelled out (over {MAX_SIZE} items)")
    return total


@functools.lru_cache(maxsize=CACHED)
def compiled(pattern: str) -> regex.Pattern[str]:
    """The pattern compiled, once priced (PatternRefused otherwise); the same pattern again
    comes from a small cache. The engine's own cache is bypassed: it keeps 500 of any size."""
    size_of(pattern)
    try:
        return regex.compile(pattern, FLAGS, cache_pattern=False)
    except (regex.error, RecursionError, OverflowError, ValueError) as exc:
        raise PatternRefused(f"is not a valid regular expression: {exc}") from None
