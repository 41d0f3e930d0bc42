"""A JSON text read in chunks without holding its long strings: `JsonSplitter` passes the
JSON through to a small buffer, but hands each string at a path it is told to divert to a
sink as it arrives, leaving a short placeholder in the buffer. It follows the structure only
as far as it needs to name paths; whether the text is valid JSON the parser of the buffer decides."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import orjson

from dochooks.errors import InvalidInput, TooLarge

JsonPath = tuple[str | int, ...]

_PLACEHOLDER = "diverted:"
# What stands for a diverted string that was not a valid JSON string: an invalid escape, so
# that parsing the buffer refuses the body as parsing the whole body would have.
_INVALID = b'"\\q"'
# A string's body up to its closing quote; it stops before a backslash whose escaped
# character is still to come.
_STRING_BODY = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
# Outside strings: JSON whitespace, a structural character, a quote, or a run of anything else.
_TOKEN = re.compile(rb'[ \t\n\r]+|[{}\[\],:"]|[^ \t\n\r{}\[\],:"]+')
_TRACKED_DEPTH = 8  # deeper containers are only counted: no diverted path is that deep


class Sink(Protocol):
    def feed(self, raw: bytes) -> None:
        """The next piece of the string's raw text (between the quotes, escapes as written)."""

    def close(self) -> bool:
        """The string ended; whether it was a valid JSON string."""


def diverted_index(text: str) -> int | None:
    """Which diverted string a placeholder from the buffer stands for (0, 1, ...)."""
    number = text.removeprefix(_PLACEHOLDER)
    return int(number) if number != text and number.isascii() and number.isdigit() else None


def json_pointer(path: JsonPath) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


@dataclass
class _Container:
    is_object: bool
    key: str | None = None  # objects: the key of the member being read
    index: int = 0  # arrays: the index of the element being read
    expects_key: bool = True

    @property
    def position(self) -> str | int:
        return (self.key or "") if self.is_object else self.index


class JsonSplitter:
    """Feed it chunks, then `finish()` gives the buffered JSON. `divert(path)` is asked for
    every string value; a sink it returns gets that string. Any other string longer than
    `max_string` bytes is refused (422 naming where it stands), and a buffer past
    `max_buffered` bytes too (413)."""

    def __init__(self, divert: Callable[[JsonPath], Sink | None], *, max_buffered: int, max_string: int) -> None:
        self._divert = divert
        self._max_buffered = max_buffered
        self._max_string = max_string
        self._out = bytearray()
        self._carry = b""  # a backslash that ended a chunk inside a string
        self._containers: list[_Container] = []
        self._untracked_depth = 0
        self._in_string = False
        self._string_start = 0  # where the string being passed through begins in the buffer
        self._string_path: JsonPath | None = None
        self._is_key = False
        self._sink: Sink | None = None
        self._diverted = 0

    def feed(self, chunk: bytes) -> None:
        data = self._carry + chunk if self._carry else chunk
        self._carry = b""
        pos = 0
        while pos < len(data):
            if self._in_string:
                body = _STRING_BODY.match(data, pos)
                assert body is not None  # the pattern matches the empty string
                end = body.end()
                self._string_piece(data[pos:end])
                if end == len(data):
                    break
                if data[end] == ord("\\"):  # the last byte: the character it escapes comes next
                    self._carry = data[end:]
                    break
                self._end_string()
                pos = end + 1
            else:
                token = _TOKEN.match(data, pos)
                assert token is not None  # every byte starts a token
                pos = token.end()
                self._structure(token.group())
        if len(self._out) > self._max_buffered:
            raise TooLarge(f"the JSON around the files' base64 exceeds {self._max_buffered} bytes")

    def finish(self) -> bytes:
        """The buffered JSON: unfinished if the text was (the parser then says so)."""
        return bytes(self._out)

    def _structure(self, token: bytes) -> None:
        top = self._containers[-1] if self._containers and not self._untracked_depth else None
        first = token[:1]
        if first in (b"{", b"["):
            if self._untracked_depth or len(self._containers) >= _TRACKED_DEPTH:
                self._untracked_depth += 1
            else:
                self._containers.append(_Container(is_object=first == b"{"))
        elif first in (b"}", b"]"):
            if self._untracked_depth:
                self._untracked_depth -= 1
            elif self._containers:
                self._containers.pop()
        elif first == b"," and top is not None:
            top.expects_key = True
            top.index += 1
        elif first == b":" and top is not None:
            top.expects_key = False
        elif first == b'"':
            self._start_string(top)
            return
        elif first in b" \t\n\r":
            token = b" "  # a run of whitespace matters only as a separator
        self._out += token

    def _start_string(self, top: _Container | None) -> None:
        self._in_string = True
        self._is_key = top is not None and top.is_object and top.expects_key
        path = tuple(c.position for c in self._containers) if not self._untracked_depth else None
        if path is not None and self._is_key:
            path = path[:-1]  # a key is named by the object it is in
        elif path is not None:
            self._sink = self._divert(path)
        self._string_path = path
        if self._sink is None:
            self._string_start = len(self._out)
            self._out += b'"'

    def _string_piece(self, raw: bytes) -> None:
        if self._sink is not None:
            self._sink.feed(raw)
            return
        self._out += raw
        if len(self._out) - self._string_start > self._max_string:
            raise InvalidInput(
                f"a text longer than {self._max_string} bytes is accepted only as a file's base64_file",
                pointer=json_pointer(self._string_path or ()) or None,
            )

    def _end_string(self) -> None:
        self._in_string = False
        if self._sink is not None:
            valid = self._sink.close()
            self._sink = None
            self._out += f'"{_PLACEHOLDER}{self._diverted}"'.encode() if valid else _INVALID
            self._diverted += 1
            return
        self._out += b'"'
        if self._is_key and self._containers and not self._untracked_depth:
            try:
                key = orjson.loads(self._out[self._string_start :])
            except orjson.JSONDecodeError:
                key = None  # the parser refuses the body anyway
            self._containers[-1].key = key if isinstance(key, str) else None
