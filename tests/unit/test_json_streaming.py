"""The JSON splitter: strings at diverted paths go to sinks whole and exactly as written,
everything else reaches the buffer meaning what it meant, however the text is cut."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dochooks.documents.streaming import JsonPath, JsonSplitter, diverted_index, json_pointer
from dochooks.errors import InvalidInput, TooLarge
from tests.unit.test_base64_stream import chunked

FILE_PATH = ("data", "attributes", "files")


class Recorder:
    def __init__(self, valid: bool = True) -> None:
        self.raw = bytearray()
        self.closed = False
        self.valid = valid

    def feed(self, raw: bytes) -> None:
        assert not self.closed
        self.raw += raw

    def close(self) -> bool:
        self.closed = True
        return self.valid


class Splitter:
    """A splitter diverting `files[i].base64_file`, with what it diverted."""

    def __init__(self, *, max_buffered: int = 1 << 20, max_string: int = 1 << 10, valid: bool = True) -> None:
        self.sinks: list[Recorder] = []
        self.valid = valid
        self.splitter = JsonSplitter(self.divert, max_buffered=max_buffered, max_string=max_string)

    def divert(self, path: JsonPath) -> Recorder | None:
        if len(path) == 5 and path[:3] == FILE_PATH and isinstance(path[3], int) and path[4] == "base64_file":
            self.sinks.append(Recorder(self.valid))
            return self.sinks[-1]
        return None

    def run(self, text: bytes, sizes: list[int]) -> bytes:
        for piece in chunked(text, sizes):
            self.splitter.feed(piece)
        return self.splitter.finish()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=12,
)
sizes = st.lists(st.integers(1, 17), max_size=5)


@given(
    st.lists(st.text(max_size=40), min_size=1, max_size=3),
    json_values,
    st.booleans(),
    st.sampled_from([None, 2]),
    sizes,
)
def test_file_strings_are_diverted_as_written_and_the_rest_means_the_same(
    files: list[str], custom: Any, ascii_only: bool, indent: int | None, cuts: list[int]
) -> None:
    doc = {
        "data": {
            "type": "documents",
            "attributes": {"custom_fields": {"x": custom}, "files": [{"base64_file": f} for f in files]},
        }
    }
    text = json.dumps(doc, ensure_ascii=ascii_only, indent=indent).encode()
    split = Splitter()
    kept = json.loads(split.run(text, cuts))
    assert [bytes(s.raw) for s in split.sinks] == [json.dumps(f, ensure_ascii=ascii_only)[1:-1].encode() for f in files]
    assert all(s.closed for s in split.sinks)
    placeholders = [f["base64_file"] for f in kept["data"]["attributes"]["files"]]
    assert [diverted_index(p) for p in placeholders] == list(range(len(files)))
    kept["data"]["attributes"]["files"] = [{"base64_file": f} for f in files]
    assert kept == doc


TOKENS = ["{", "}", "[", "]", ",", ":", '"a"', '"b\\"c"', "1", "-2.5e3", "true", "null", " ", "\n", "\x0c", "x", '"']


@given(st.lists(st.sampled_from(TOKENS), max_size=14), sizes)
def test_text_that_is_not_json_stays_not_json_and_json_stays_the_same(tokens: list[str], cuts: list[int]) -> None:
    text = "".join(tokens).encode()
    kept = Splitter().run(text, cuts)
    try:
        expected = json.loads(text)
    except json.JSONDecodeError:
        with pytest.raises(json.JSONDecodeError):
            json.loads(kept)
    else:
        assert json.loads(kept) == expected


def test_a_key_is_read_with_its_escapes_and_depth_beyond_the_tracked_levels_is_left_behind() -> None:
    deep = "[" * 40 + "]" * 40
    text = f'{{"data": {{"x": {deep}, "attributes": {{"fil\\u0065s": [1, {{"base64_file": "QUJD"}}]}}}}}}'
    split = Splitter()
    kept = json.loads(split.run(text.encode(), [3]))
    assert [bytes(s.raw) for s in split.sinks] == [b"QUJD"]
    assert kept["data"]["attributes"]["files"][1]["base64_file"] == "diverted:0"


def test_a_string_that_is_not_valid_json_leaves_text_that_is_not_json() -> None:
    split = Splitter(valid=False)
    kept = split.run(b'{"data": {"attributes": {"files": [{"base64_file": "QUJD"}]}}}', [7])
    with pytest.raises(json.JSONDecodeError):
        json.loads(kept)


@pytest.mark.parametrize(
    ("text", "pointer"),
    [
        ('{"data": {"attributes": {"name": "LONG"}}}', "/data/attributes/name"),
        ('{"data": {"attributes": {"custom_fields": {"a/b": ["LONG"]}}}}', "/data/attributes/custom_fields/a~1b/0"),
        ('{"data": {"attributes": {"files": [{"LONG": 1}]}}}', "/data/attributes/files/0"),
        ('{"data": {"attributes": {"files": ["LONG"]}}}', "/data/attributes/files/0"),
    ],
)
def test_a_long_string_anywhere_but_a_files_base64_is_refused_where_it_stands(text: str, pointer: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Splitter().run(text.replace("LONG", "A" * 2000).encode(), [100])
    assert refused.value.pointer == pointer


def test_the_buffer_is_bounded() -> None:
    many = json.dumps({"data": {"attributes": {"custom_fields": {str(i): "x" * 500 for i in range(100)}}}})
    with pytest.raises(TooLarge):
        Splitter(max_buffered=10_000).run(many.encode(), [4096])


def test_json_pointers_escape_tilde_and_slash() -> None:
    assert json_pointer(("a~b", "c/d", 3)) == "/a~0b/c~1d/3"
    assert diverted_index("diverted:12") == 12 and diverted_index("12") is None and diverted_index("diverted:") is None
