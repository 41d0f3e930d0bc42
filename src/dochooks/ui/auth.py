"""Signing in and out of the web UI, the session every page needs, and the CSRF check on every form."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from dochooks.errors import DochooksError
from dochooks.ui import sessions
from dochooks.ui.render import page
from dochooks.ui.sessions import SESSION_COOKIE, Session, csrf_matches, csrf_token_for
from dochooks.web.access_log import note_tenant
from dochooks.web.deps import Rt, auth_failures, caller_address, rate_limiter

router = APIRouter(include_in_schema=False)
# The sign-in form has no session yet: its CSRF token is tied to a nonce in this cookie instead.
SIGN_IN_COOKIE = "dochooks_sign_in"
HOME = "/development/webhooks"
MAX_FORM_FIELDS = 300
# What the sign-in form says after a refused post redirected back to it (`?error=...`): it
# has no session to keep a flash with, and the token typed is never kept.
SIGN_IN_ERRORS = {"no-token": "Enter your API token.", "invalid-token": "This API token is not valid."}


class SignInRequired(Exception):
    """No live session: a page sends the browser to the sign-in form, a fragment answers 401."""


class Forbidden(DochooksError, status=403, title="Forbidden"): ...


def current_session(request: Request, rt: Rt) -> Session:
    """The caller's live session; raises SignInRequired without one."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise SignInRequired
    with rt.db.read() as conn:
        found = sessions.find(conn, session_id, rt.clock.now_ms())
    if found is None:
        raise SignInRequired
    request.state.session = found
    note_tenant(request, found.tenant_id)
    return found


def _limit(request: Request, key: str) -> None:
    """Count a post against the caller's rate, as the API counts a token's requests (429 when over)."""
    rate_limiter(request).take(key)


async def checked_form(request: Request, session: Annotated[Session, Depends(current_session)]) -> FormData:
    """The posted form, once its CSRF token matches the session's (403 otherwise) and the
    session is within its rate."""
    _limit(request, f"session:{session.session_id}")
    form = await request.form(max_fields=MAX_FORM_FIELDS)
    given = form.get("csrf_token")
    if not csrf_matches(session.csrf_token, given if isinstance(given, str) else None):
        raise Forbidden("The form's security token is missing or wrong. Reload the page and try again.")
    return form


SignedIn = Annotated[Session, Depends(current_session)]
Form = Annotated[FormData, Depends(checked_form)]


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def sign_in_redirect(request: Request, exc: SignInRequired) -> Response:
    if request.headers.get("x-requested-with") == "fetch":  # a live-refresh poll: no page to go to
        return Response(status_code=401)
    asked_for = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect("/sign-in" if request.method != "GET" else f"/sign-in?next={quote(asked_for, safe='')}")


def _safe_next(value: object) -> str:
    """Only a path on this site; never another origin (`//host`, `/\\host`)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return HOME


def _set_cookie(response: Response, request: Request, key: str, value: str, *, max_age: int, path: str) -> None:
    """HttpOnly and SameSite=Lax always; Secure whenever the page came over https."""
    secure = request.url.scheme == "https"
    response.set_cookie(key, value, max_age=max_age, path=path, httponly=True, samesite="lax", secure=secure)


def _sign_in_form(request: Request, *, error: str | None = None, next_url: str = HOME) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = page(
        request,
        "sign_in.html",
        session=None,
        csrf_token=csrf_token_for(nonce),
        error=error,
        next_url=next_url,
    )
    _set_cookie(response, request, SIGN_IN_COOKIE, nonce, max_age=3600, path="/sign-in")
    return response


@router.get("/")
def home(request: Request) -> Response:
    return redirect(HOME if request.cookies.get(SESSION_COOKIE) else "/sign-in")


@router.get("/sign-in")
def sign_in_form(request: Request) -> Response:
    error = SIGN_IN_ERRORS.get(request.query_params.get("error") or "")
    return _sign_in_form(request, error=error, next_url=_safe_next(request.query_params.get("next")))


def _sign_in_refused(error: str, next_url: str) -> Response:
    """Back to the form, which says why: a reload asks for nothing to be sent again."""
    return redirect(f"/sign-in?next={quote(next_url, safe='')}&error={error}")


async def _sign_in_fields(request: Request) -> FormData:
    return await request.form(max_fields=10)


@router.post("/sign-in")
def sign_in(request: Request, rt: Rt, form: Annotated[FormData, Depends(_sign_in_fields)]) -> Response:
    address = caller_address(request)
    _limit(request, f"sign-in:{address}")
    nonce = request.cookies.get(SIGN_IN_COOKIE)
    given = form.get("csrf_token")
    if not nonce or not csrf_matches(csrf_token_for(nonce), given if isinstance(given, str) else None):
        raise Forbidden("The sign-in form's security token is missing or wrong. Reload the page and try again.")
    token = form.get("token")
    next_url = _safe_next(form.get("next"))
    if not isinstance(token, str) or not token.strip():
        return _sign_in_refused("no-token", next_url)
    failures = auth_failures(request)  # the API's budget: one per address
    failures.check(address)
    with rt.db.transaction() as conn:
        session_id = sessions.sign_in(conn, token, rt.clock.now_ms())
    if session_id is None:
        failures.count(address)
        return _sign_in_refused("invalid-token", next_url)
    response = redirect(next_url)
    _set_cookie(response, request, SESSION_COOKIE, session_id, max_age=sessions.SESSION_TTL_MS // 1000, path="/")
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out")
def sign_out(request: Request, rt: Rt, session: SignedIn, form: Form) -> Response:
    with rt.db.transaction() as conn:
        sessions.sign_out(conn, session.session_id)
    response = redirect("/sign-in")
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )
    return response
