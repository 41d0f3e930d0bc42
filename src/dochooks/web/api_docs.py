"""The API's documentation pages, /docs (Swagger UI) and /redoc (ReDoc), served whole from
this service: their scripts and styles come from the fastapi-offline package's copies of
Swagger UI and ReDoc, and the pages start them without inline scripts, so they work
offline and under a Content-Security-Policy that allows only this origin's scripts
(and, for Swagger UI, only its styles)."""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

VENDOR = Path(str(files("fastapi_offline") / "static"))  # swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js
ASSETS = "/docs/assets"
INIT = Path(__file__).parent / "docs_static" / "swagger-init.js"
_FIXED = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
# Scripts and styles only from this origin, no framing; ReDoc needs more (below).
SWAGGER_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    **_FIXED,
}
# ReDoc injects <style> elements and runs its search in a worker made from a blob; scripts
# stay this origin's only.
REDOC_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:; frame-ancestors 'none'; form-action 'self'",
    **_FIXED,
}

router = APIRouter(include_in_schema=False)


def _swagger_page(title: str, openapi_url: str, root: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="stylesheet" href="{root}{ASSETS}/swagger-ui.css">
<link rel="icon" href="{root}{ASSETS}/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(root + openapi_url)}"></div>
<script src="{root}{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{root}/docs/swagger-init.js"></script>
</body>
</html>
"""


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """The OpenAPI document in Swagger UI, with "Try it out"."""
    app = request.app
    root = request.scope.get("root_path", "")
    return HTMLResponse(_swagger_page(f"{app.title} API", app.openapi_url, root), headers=SWAGGER_HEADERS)


@router.get("/docs/swagger-init.js")
def swagger_init() -> FileResponse:
    return FileResponse(INIT, media_type="text/javascript", headers={"X-Content-Type-Options": "nosniff"})


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """The OpenAPI document in ReDoc, for reading."""
    app = request.app
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} API",
        redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
        with_google_fonts=False,
    )
    return HTMLResponse(page.body, headers=REDOC_HEADERS)


def serve_docs(app: FastAPI) -> None:
    """Add the documentation pages and their assets to an app made with docs_url=None, redoc_url=None."""
    app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=VENDOR), name="docs-assets")
