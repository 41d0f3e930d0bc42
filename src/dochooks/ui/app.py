"""Puts the web UI on an app: its routes, its static files, and HTML error pages outside /v1."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from dochooks.ui import auth, documents, webhooks, workflow
from dochooks.ui.render import HERE, error_page


def install(app: FastAPI) -> None:
    """Serve the pages at / beside the API at /v1."""
    app.state.error_page = error_page
    app.add_exception_handler(auth.SignInRequired, auth.sign_in_redirect)  # type: ignore[arg-type]
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (auth, webhooks, workflow, documents):
        app.include_router(module.router)
