"""An upload's JSON:API body read in chunks: every `data.attributes.files[i].base64_file` is
decoded into a staged file as it arrives, and the rest of the document, small, is kept for
the schema. Neither the base64 text nor the decoded file is ever whole in memory."""

from __future__ import annotations

from dochooks.documents.base64_stream import Base64String, Verdict
from dochooks.documents.files import StagedFile, Staging
from dochooks.documents.streaming import JsonPath, JsonSplitter, Sink, diverted_index
from dochooks.documents.uploads import MAX_FILES
from dochooks.errors import InvalidInput

MAX_JSON_BYTES = 1024 * 1024  # the document around the base64: name, external_id, custom_fields
MAX_TEXT_BYTES = 64 * 1024  # no attribute but a file's base64 can be longer
_FILES = ("data", "attributes", "files")


class _StagedBase64:
    """A sink decoding one `base64_file` string into its staged file."""

    def __init__(self, staged: StagedFile) -> None:
        self.staged = staged
        self.decoded = Base64String(staged.write)

    def feed(self, raw: bytes) -> None:
        self.decoded.feed(raw)

    def close(self) -> bool:
        verdict = self.decoded.finish()
        if verdict is Verdict.OK:
            self.staged.finish()
        else:
            self.staged.discard()
        return verdict is not Verdict.MALFORMED


class JsonUpload:
    """Feed it the body's chunks (blocking file I/O: not on the event loop), parse `json()`
    with the schema, then ask `files()` for the staged files its `base64_file`s stand for."""

    def __init__(self, staging: Staging) -> None:
        self._staging = staging
        self._sinks: list[_StagedBase64] = []
        self._splitter = JsonSplitter(self._divert, max_buffered=MAX_JSON_BYTES, max_string=MAX_TEXT_BYTES)

    def feed(self, chunk: bytes) -> None:
        self._splitter.feed(chunk)

    def json(self) -> bytes:
        """The body with each `base64_file` replaced by a short placeholder."""
        return self._splitter.finish()

    def files(self, base64_files: list[str]) -> list[StagedFile]:
        """The staged files of the parsed document's `files`, in order; 422 at the first that is not valid base64."""
        found = []
        for i, text in enumerate(base64_files):
            index = diverted_index(text)
            if index is None or index >= len(self._sinks) or self._sinks[index].decoded.verdict is not Verdict.OK:
                raise InvalidInput("not valid base64", attribute=f"files/{i}/base64_file")
            found.append(self._sinks[index].staged)
        return found

    def _divert(self, path: JsonPath) -> Sink | None:
        if len(path) != 5 or path[:3] != _FILES or not isinstance(path[3], int) or path[4] != "base64_file":
            return None
        if len(self._sinks) >= MAX_FILES:
            raise InvalidInput(f"at most {MAX_FILES} files per upload", attribute="files")
        sink = _StagedBase64(self._staging.new_file())
        self._sinks.append(sink)
        return sink
