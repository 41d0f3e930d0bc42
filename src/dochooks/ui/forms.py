"""Reading the UI's forms: rows of name/value inputs, and a webhook form checked by the
same rules as the API (`webhooks.config.validated`), with each error kept by its field."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from starlette.datastructures import FormData

from dochooks.errors import InvalidInput
from dochooks.webhooks.config import validated
from dochooks.webhooks.url_safety import AddressPolicy


def text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def whole_number(value: str, *, at_most: int) -> int | None:
    """A number typed as ASCII digits, 0 to `at_most`; None for anything else (`²` and `٣`
    are digits to `str.isdigit` but not a number anyone typed here)."""
    if not (value.isascii() and value.isdecimal()) or len(value) > len(str(at_most)):
        return None
    number = int(value)
    return number if number <= at_most else None


def texts(form: FormData, key: str) -> list[str]:
    return [v for v in form.getlist(key) if isinstance(v, str)]


def rows(form: FormData, name_key: str, value_key: str) -> list[tuple[str, str]]:
    """Pairs of (name, value) inputs in page order; rows left blank are dropped."""
    names, values = texts(form, name_key), texts(form, value_key)
    pairs = zip(names, values + [""] * (len(names) - len(values)), strict=False)
    return [(n.strip(), v) for n, v in pairs if n.strip() or v]


def rows_as_dict(pairs: list[tuple[str, str]], what: str) -> tuple[dict[str, str], str | None]:
    """The rows as a mapping, or an error when one has no name or a name comes twice."""
    found: dict[str, str] = {}
    for name, value in pairs:
        if not name:
            return found, f"Give every {what} a name."
        if name in found:
            return found, f"The {what} {name} is given twice."
        found[name] = value
    return found, None


@dataclass
class WebhookForm:
    """What the webhook form holds, as typed, and the error for each field."""

    name: str = ""
    url: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    enabled: bool = True
    ordered: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, form: FormData) -> WebhookForm:
        return cls(
            name=text(form, "name"),
            url=text(form, "url").strip(),
            headers=rows(form, "header_name", "header_value"),
            topics=texts(form, "topics"),
            enabled=text(form, "enabled") == "on",
            ordered=text(form, "ordered") == "on",
        )

    def typed(self) -> dict[str, Any]:
        """What was typed, to keep in a flash (`ui/flash.py`) with `errors`: every field."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "errors"}

    @classmethod
    def from_flash(cls, data: dict[str, Any], base: WebhookForm | None = None) -> WebhookForm:
        """The form as posted, from a flash: the errors, and what was typed if it was kept
        (else what `base` holds: the webhook as stored, on its edit page)."""
        kept = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        if "headers" in kept:  # JSON keeps the pairs as lists
            kept["headers"] = [(name, value) for name, value in kept["headers"]]
        return replace(base, **kept) if base else cls(**kept)

    def checked(self, policy: AddressPolicy) -> dict[str, Any] | None:
        """The attributes for the store when every field passes, else None with `errors` filled in."""
        headers, header_error = rows_as_dict(self.headers, "header")
        given: dict[str, Any] = {
            "name": self.name,
            "url": self.url,
            "headers": headers,
            "topics": self.topics,
            "enabled": self.enabled,
            "ordered": self.ordered,
        }
        attrs: dict[str, Any] = {}
        if header_error:
            self.errors["headers"] = header_error
        for key, value in given.items():
            if key in self.errors:
                continue
            try:  # one attribute at a time, so every field that is wrong says so at once
                attrs.update(validated({key: value}, policy=policy))
            except InvalidInput as exc:
                self.errors[key] = sentence(exc.detail)
        return None if self.errors else attrs


def sentence(detail: str) -> str:
    return detail[:1].upper() + detail[1:] + ("" if detail.endswith(".") else ".")
