"""JSON:API documents: the media type, resource objects and error objects in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse

MEDIA_TYPE = "application/vnd.api+json"
JSON_TYPES = ("application/json", MEDIA_TYPE)


class JsonApiResponse(JSONResponse):
    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def is_api_path(path: str) -> bool:
    """Whether a request path is the API's (answered in JSON:API) rather than a web page's."""
    return path == "/v1" or path.startswith("/v1/")


def resource(kind: str, ident: int | str, attributes: dict[str, Any], self_link: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": kind, "id": str(ident), "attributes": attributes}
    if self_link:
        doc["links"] = {"self": self_link}
    return doc


def page_link(request: Request, **page: int) -> str:
    """This request's URL with its filters kept and the given page[...] parameters changed."""
    params = dict(request.query_params)
    params.update({f"page[{key}]": str(value) for key, value in page.items()})
    return f"{request.url.path}?{urlencode(params)}"


def document(data: Any, status_code: int = 200, **extra: Any) -> JsonApiResponse:
    return JsonApiResponse({"data": data, **extra}, status_code=status_code)


def error_object(
    status: int, title: str, detail: str, *, pointer: str | None = None, parameter: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"status": str(status), "title": title, "detail": detail}
    if pointer is not None:
        error["source"] = {"pointer": pointer}
    elif parameter is not None:
        error["source"] = {"parameter": parameter}
    return error


def errors(status: int, items: list[dict[str, Any]], headers: Mapping[str, str] | None = None) -> JsonApiResponse:
    return JsonApiResponse({"errors": items}, status_code=status, headers=headers)
