"""Base64 inside a JSON string, decoded as it arrives: the string's raw text comes in pieces
cut anywhere (inside an escape or a UTF-8 sequence too) and the decoded bytes go out as
they are complete. The rules are those of a whole decode,
`base64.b64decode("".join(text.split()), validate=True)`: standard alphabet, padding
checked, whitespace and line breaks (`\\n`, `\\r\\n`) skipped."""

from __future__ import annotations

import binascii
import codecs
import enum
import re
from collections.abc import Callable

import orjson

# A JSON string's text as complete tokens: runs of plain characters and whole escapes.
_TOKENS = re.compile(r'(?:[^\\\x00-\x1f]++|\\u[0-9a-fA-F]{4}|\\["\\/bfnrt])*+')
_HIGH_SURROGATE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}")  # its low half may still be on its way
_ESCAPE_BEGUN = re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?")  # the start of an escape cut off by the piece's end
_PADDING_RUN = re.compile(r"={4,}")


def _escapes(text: str, at: int) -> bool:
    """Whether the backslash at `at` starts an escape, rather than being one's escaped character."""
    before = text[:at]
    return (len(before) - len(before.rstrip("\\"))) % 2 == 0


class Verdict(enum.Enum):
    OK = "ok"
    NOT_BASE64 = "not valid base64"
    MALFORMED = "not a valid JSON string"


class Base64String:
    """Decodes one JSON string's base64 content into `write`. A verdict other than OK stops
    the writing; a string that is not base64 is still read to its end as JSON, so that a
    malformed body is told apart from bad base64, as a whole parse would."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self.verdict = Verdict.OK
        self._write = write
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._pending = ""  # the start of an escape, or a high surrogate waiting for its pair
        self._tail = ""  # base64 characters held back: the last whole quantum, a partial one, padding

    def feed(self, raw: bytes) -> None:
        if self.verdict is Verdict.MALFORMED:
            return
        try:
            text = self._pending + self._utf8.decode(raw)
        except UnicodeDecodeError:
            self.verdict = Verdict.MALFORMED
            return
        tokens = _TOKENS.match(text)
        assert tokens is not None  # the pattern matches the empty string
        end = tokens.end()
        if end < len(text) and not _ESCAPE_BEGUN.fullmatch(text, end):
            self.verdict = Verdict.MALFORMED  # a control character or an invalid escape
            return
        if end >= 6 and _HIGH_SURROGATE.fullmatch(text, end - 6, end) and _escapes(text, end - 6):
            end -= 6
        self._pending = text[end:]
        self._take(text[:end])

    def finish(self) -> Verdict:
        """The verdict on the whole string, once its closing quote has been seen."""
        try:
            self._utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            self.verdict = Verdict.MALFORMED
        if self._pending and self.verdict is not Verdict.MALFORMED:
            self._take(self._pending)  # a lone high surrogate: refused below as JSON does
            if self.verdict is Verdict.OK:  # an escape cut short by the closing quote
                self.verdict = Verdict.MALFORMED
        if self.verdict is Verdict.OK:
            self._decode(self._tail)
        return self.verdict

    def _take(self, complete: str) -> None:
        """Characters made only of whole tokens: unescaped, stripped of whitespace, decoded."""
        if "\\" in complete:
            try:
                complete = orjson.loads(f'"{complete}"')
            except orjson.JSONDecodeError:
                self.verdict = Verdict.MALFORMED  # e.g. a surrogate without its other half
                return
        if self.verdict is not Verdict.OK:
            return
        chars = "".join(complete.split())
        if not chars.isascii():
            self.verdict = Verdict.NOT_BASE64
        elif "=" in self._tail:  # after padding only more padding may come
            if chars.strip("="):
                self.verdict = Verdict.NOT_BASE64
            else:  # more than three pad characters decide nothing more than three do
                self._tail = _PADDING_RUN.sub("===", self._tail + chars)
        else:
            data, pad, rest = chars.partition("=")
            data = self._tail + data
            # Decode whole quanta but keep the last back: padding may still follow it.
            cut = max(0, len(data) - len(data) % 4 - 4)
            if cut and not self._decode(data[:cut]):
                return
            self._tail = _PADDING_RUN.sub("===", data[cut:] + pad + rest)
            if pad and rest.strip("="):
                self.verdict = Verdict.NOT_BASE64

    def _decode(self, chars: str) -> bool:
        try:
            decoded = binascii.a2b_base64(chars, strict_mode=True)
        except binascii.Error:
            self.verdict = Verdict.NOT_BASE64
            return False
        self._write(decoded)
        return True
