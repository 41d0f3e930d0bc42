"""What callers may send, checked by the same rules whichever face they come through:
storable text, a document's upload attributes, a validation's corrections. Pydantic models,
so the API's schemas embed them and OpenAPI documents them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _storable(value: str) -> str:
    """Text both databases can store and every client can read back."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
    return value


Text = Annotated[str, AfterValidator(_storable)]
ShortText = Annotated[Text, Field(max_length=255)]
TEN_YEARS = 10 * 365 * 24 * 3600


class Strict(BaseModel):
    """Unknown attributes are refused and no value is coerced to another type."""

    model_config = ConfigDict(extra="forbid", strict=True)


class FileAttributes(Strict):
    base64_file: Text = Field(description="The file's bytes in base64.")


class DocumentAttributes(Strict):
    files: list[FileAttributes] = Field(description="The upload; one document per upload.")
    name: ShortText | None = Field(default=None, examples=["invoice-4711.pdf"])
    external_id: ShortText | None = Field(default=None, description="Your id, for lookups.", examples=["EX123456789"])
    custom_fields: dict[str, Any] = Field(default_factory=dict, description="Echoed in every payload.")


class ValidationAttributes(Strict):
    document_type: ShortText | None = Field(default=None, description="Correct the type while classifying.")
    fields: dict[ShortText, Text] | None = Field(default=None, description="Correct extracted fields while extracting.")
