"""Base64 decoded from a JSON string's raw text in pieces cut anywhere gives what a whole
decode of the parsed string gives: the same bytes, or the same refusal."""

from __future__ import annotations

import base64
import binascii
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dochooks.documents.base64_stream import Base64String, Verdict


def chunked(raw: bytes, sizes: list[int]) -> list[bytes]:
    """`raw` cut into pieces of the given sizes (cycled), down to single bytes."""
    pieces, pos, i = [], 0, 0
    while pos < len(raw):
        size = sizes[i % len(sizes)] if sizes else len(raw)
        pieces.append(raw[pos : pos + size])
        pos += size
        i += 1
    return pieces


def stream(raw: bytes, sizes: list[int]) -> tuple[Verdict, bytes]:
    out = bytearray()
    decoder = Base64String(out.extend)
    for piece in chunked(raw, sizes):
        decoder.feed(piece)
    return decoder.finish(), bytes(out)


def whole(text: str) -> bytes | None:
    """Today's rule for a parsed `base64_file`; None where it refuses."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def escaped(text: str, styles: list[int]) -> bytes:
    """`text` as the raw inside of a JSON string, each character spelled one of the ways encoders do."""
    out = []
    for i, char in enumerate(text):
        style = styles[i % len(styles)] if styles else 0
        if char == "/" and style == 1:
            out.append("\\/")  # PHP's json_encode, among others
        elif style == 2 or ord(char) < 0x20 or char in '"\\':
            out.append(json.dumps(char)[1:-1] if style != 2 else "".join(f"\\u{u:04x}" for u in utf16(char)))
        else:
            out.append(char)
    return "".join(out).encode()


def utf16(char: str) -> list[int]:
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


sizes = st.lists(st.integers(1, 9), max_size=6)
styles = st.lists(st.integers(0, 2), max_size=6)
whitespace = st.sampled_from([" ", "\n", "\r\n", "\t", "\u00a0", "\u2028", "\x0c"])


@given(st.binary(max_size=300), st.lists(st.tuples(st.integers(0, 400), whitespace), max_size=8), styles, sizes)
def test_any_bytes_come_back_whatever_the_whitespace_escapes_and_cuts(
    content: bytes, breaks: list[tuple[int, str]], spelling: list[int], cuts: list[int]
) -> None:
    text = base64.b64encode(content).decode()
    for at, space in sorted(breaks, reverse=True):
        text = text[:at] + space + text[at:]
    assert stream(escaped(text, spelling), cuts) == (Verdict.OK, content)


@given(st.text(alphabet="AQgw+/=é- \n\u00a0\U0001f600", max_size=24), styles, sizes)
def test_any_text_is_decoded_or_refused_exactly_as_a_whole_decode_would(
    text: str, spelling: list[int], cuts: list[int]
) -> None:
    verdict, decoded = stream(escaped(text, spelling), cuts)
    expected = whole(text)
    if expected is None:
        assert verdict is Verdict.NOT_BASE64
    else:
        assert (verdict, decoded) == (Verdict.OK, expected)


@given(st.integers(0, 16), sizes)
def test_padding_after_a_whole_quantum_is_judged_as_a_whole_decode_would(pads: int, cuts: list[int]) -> None:
    for data in ("", "QQ", "QUE", "QUJD", "QUJDRA", "QUJDREU"):
        text = data + "=" * pads
        verdict, decoded = stream(text.encode(), cuts)
        expected = whole(text)
        assert (verdict, decoded) == ((Verdict.OK, expected) if expected is not None else (Verdict.NOT_BASE64, b""))


@pytest.mark.parametrize(
    "raw",
    [
        b"QUJD\nRA==",  # a raw line break: JSON wants it escaped
        b"QUJD\\xRA==",  # no such escape
        b"QUJD\\ud800RA==",  # half a surrogate pair
        b"QUJD\\udc00",
        b"QUJDRA==\\u00",  # an escape cut short by the closing quote
        b"QUJD\xffRA==",  # not UTF-8
        b"QUJD\xc3",  # a UTF-8 sequence cut short
        b"!!!!\\q",  # bad base64 first does not hide the malformed JSON after it
    ],
)
def test_a_string_that_is_not_valid_json_is_malformed_however_it_is_cut(raw: bytes) -> None:
    for size in (1, 2, 3, 5, len(raw)):
        assert stream(raw, [size])[0] is Verdict.MALFORMED, (raw, size)


def test_a_surrogate_pair_cut_between_its_halves_is_json_but_not_base64() -> None:
    raw = b"QUJD\\ud83d\\ude00"
    for size in range(1, len(raw) + 1):
        assert stream(raw, [size])[0] is Verdict.NOT_BASE64


def test_decoded_bytes_leave_as_whole_quanta_arrive_not_at_the_end() -> None:
    out = bytearray()
    decoder = Base64String(out.extend)
    decoder.feed(base64.b64encode(b"x" * 3000))
    assert len(out) >= 2990  # all but the last quantum or so, before the string ends
    assert decoder.finish() is Verdict.OK and bytes(out) == b"x" * 3000
