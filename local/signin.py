"""The local runner's sign-in page for the web console: never part of the deployed stack.

It plays the part Cognito's managed login plays in AWS, with the same OAuth 2.0 authorization-code
flow and PKCE (RFC 7636, S256), so the console runs one sign-in code path everywhere:

- ``GET /_local/authorize?response_type=code&client_id=&redirect_uri=&state=&code_challenge=...``
  shows the demo's roles (admin, staff, sponsor, attendee);
- choosing one (``POST /_local/authorize``) redirects to ``redirect_uri?code=...&state=...``;
- ``POST /_local/token`` (form: ``grant_type=authorization_code``, ``code``, ``redirect_uri``,
  ``client_id``, ``code_verifier``) answers ``{"id_token", "access_token", "refresh_token", ...}``:
  local tokens (``local.tokens``) for the same demo users the runner prints tokens for, valid one
  hour as Cognito's are;
- ``POST /_local/token`` (form: ``grant_type=refresh_token``, ``client_id``, ``refresh_token``)
  answers new ``id_token`` and ``access_token`` and, as Cognito does, no new refresh token;
- ``POST /_local/revoke`` (form: ``token``, ``client_id``) forgets a refresh token, as Cognito's
  ``/oauth2/revoke`` does at sign-out;
- ``POST /_local/token-lifetimes`` (form: ``id_token``, ``refresh_token``, in seconds; either left
  out is its default) sets how long the tokens minted from then on last, so a test need not wait
  an hour to see one expire.

A code is used once, within five minutes, by the client and redirect it was issued for, and only
with the verifier of its challenge. A refresh token is good, for the client it was issued to, until
it expires (twelve hours, as the template sets Cognito's) or is revoked; the runner keeps both in
memory, so a restart signs everyone out. Redirects go back only to the runner's own loopback origin.
"""

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from local import tokens

AUTHORIZE_PATH = "/_local/authorize"
TOKEN_PATH = "/_local/token"
REVOKE_PATH = "/_local/revoke"
LIFETIMES_PATH = "/_local/token-lifetimes"
PATHS = (AUTHORIZE_PATH, TOKEN_PATH, REVOKE_PATH, LIFETIMES_PATH)
CLIENT_ID = "boxoffice-local"
CODE_TTL_SECONDS = 300
ID_TOKEN_SECONDS = 3600
"""As the template's IdTokenValidity (and Cognito's default)."""
REFRESH_TOKEN_SECONDS = 12 * 3600
"""As the template's RefreshTokenValidity: a conference day."""
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

CONSOLE_ENVIRONMENT = {
    "CONSOLE_AUTH": "local",
    "CONSOLE_AUTHORIZE_URL": AUTHORIZE_PATH,
    "CONSOLE_TOKEN_URL": TOKEN_PATH,
    "CONSOLE_REVOKE_URL": REVOKE_PATH,
    "CONSOLE_LOGOUT_URL": "",
    "CONSOLE_CLIENT_ID": CLIENT_ID,
    "CONSOLE_CONFERENCE": "demo",
}
"""What the API function's console configuration says locally, in place of the template's Cognito URLs."""

ROLE_NOTES = {
    "admin": "every conference, and conference settings",
    "staff": "staff of the demo conference",
    "sponsor": "ACME Corp, a sponsor of the demo conference",
    "attendee": "any signed-in user",
}

Users = dict[str, tuple[str, str, list[str]]]
"""Role name to (sub, email, groups): the runner's demo users."""

Answer = tuple[int, dict[str, str], str]
"""Status, headers and body text of one answer."""


@dataclass(frozen=True)
class _Grant:
    role: str
    client_id: str
    redirect_uri: str
    challenge: str
    expires: float


@dataclass(frozen=True)
class _Session:
    """What a refresh token stands for: a role, signed in through a client, until it expires."""

    role: str
    client_id: str
    expires: float


class SignInRefused(Exception):
    """The request cannot go on; the message says why (shown on the page, or as OAuth's error)."""

    def __init__(self, message: str, error: str = "invalid_request") -> None:
        super().__init__(message)
        self.error = error


def pkce_challenge(verifier: str) -> str:
    """RFC 7636's S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS and not parts.fragment


class LocalSignIn:
    """The authorization and token endpoints, with the codes not yet used and the live refresh tokens."""

    def __init__(self, users: Users, clock: Callable[[], float] = time.time) -> None:
        self.users = users
        self._clock = clock
        self._grants: dict[str, _Grant] = {}
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self.id_token_seconds = ID_TOKEN_SECONDS
        self.refresh_token_seconds = REFRESH_TOKEN_SECONDS

    def handle(self, method: str, path: str, query: str, body: bytes | None) -> Answer:
        """One request to ``/_local/authorize`` or ``/_local/token``."""
        form = dict(parse_qsl((body or b"").decode(errors="replace"), keep_blank_values=True))
        if path == AUTHORIZE_PATH and method == "GET":
            params = dict(parse_qsl(query, keep_blank_values=True))
            try:
                self._check_request(params)
            except SignInRefused as exc:
                return 400, {"Content-Type": "text/html; charset=utf-8"}, _page(self.users, params, str(exc))
            return (
                200,
                {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
                _page(self.users, params),
            )
        if path == AUTHORIZE_PATH and method == "POST":
            try:
                return 303, {"Location": self.authorize(form), "Cache-Control": "no-store"}, ""
            except SignInRefused as exc:
                return 400, {"Content-Type": "text/html; charset=utf-8"}, _page(self.users, form, str(exc))
        if path in (TOKEN_PATH, REVOKE_PATH, LIFETIMES_PATH) and method == "POST":
            action = {TOKEN_PATH: self.exchange, REVOKE_PATH: self.revoke, LIFETIMES_PATH: self.set_lifetimes}
            try:
                reply = action[path](form)
                status = 200
            except SignInRefused as exc:
                reply, status = {"error": exc.error, "error_description": str(exc)}, 400
            return (
                status,
                {"Content-Type": "application/json", "Cache-Control": "no-store"},
                json.dumps(reply),
            )
        return 405, {"Content-Type": "application/json"}, json.dumps({"message": "Method Not Allowed"})

    def _check_request(self, params: dict[str, str]) -> None:
        if params.get("response_type") != "code":
            raise SignInRefused("response_type must be code", "unsupported_response_type")
        if params.get("client_id") != CLIENT_ID:
            raise SignInRefused(f"unknown client_id (the console's is {CLIENT_ID})", "unauthorized_client")
        if not _loopback(params.get("redirect_uri", "")):
            raise SignInRefused("redirect_uri must be a page of this runner (http on loopback)")
        if params.get("code_challenge_method") != "S256" or len(params.get("code_challenge", "")) < 43:
            raise SignInRefused("a PKCE code_challenge with code_challenge_method S256 is required")

    def authorize(self, form: dict[str, str]) -> str:
        """The redirect back to the console, carrying a new code for the chosen role."""
        self._check_request(form)
        role = form.get("role", "")
        if role not in self.users:
            raise SignInRefused(f"choose one of {', '.join(self.users)}")
        code = secrets.token_urlsafe(24)
        grant = _Grant(
            role,
            form["client_id"],
            form["redirect_uri"],
            form["code_challenge"],
            self._clock() + CODE_TTL_SECONDS,
        )
        with self._lock:
            now = self._clock()
            self._grants = {c: g for c, g in self._grants.items() if g.expires > now}
            self._grants[code] = grant
        query = {"code": code, **({"state": form["state"]} if form.get("state") else {})}
        separator = "&" if urlsplit(form["redirect_uri"]).query else "?"
        return f"{form['redirect_uri']}{separator}{urlencode(query)}"

    def exchange(self, form: dict[str, str]) -> dict[str, object]:
        """Tokens for a code (once, to the client that holds its verifier) or for a refresh token."""
        grant_type = form.get("grant_type")
        if grant_type == "refresh_token":
            return self._refresh(form)
        if grant_type != "authorization_code":
            raise SignInRefused(
                "grant_type must be authorization_code or refresh_token", "unsupported_grant_type"
            )
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)
        if grant is None or grant.expires < self._clock():
            raise SignInRefused("the code is unknown, used or expired", "invalid_grant")
        if (form.get("client_id"), form.get("redirect_uri")) != (grant.client_id, grant.redirect_uri):
            raise SignInRefused("the code was issued to another client or redirect_uri", "invalid_grant")
        if pkce_challenge(form.get("code_verifier", "")) != grant.challenge:
            raise SignInRefused("the code_verifier does not match the code_challenge", "invalid_grant")
        refresh_token = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._sessions = {t: s for t, s in self._sessions.items() if s.expires > now}
            self._sessions[refresh_token] = _Session(
                grant.role, grant.client_id, now + self.refresh_token_seconds
            )
        return {**self._tokens(grant.role), "refresh_token": refresh_token}

    def _refresh(self, form: dict[str, str]) -> dict[str, object]:
        """New ID and access tokens for a live refresh token; the refresh token itself stays as it is."""
        with self._lock:
            found = self._sessions.get(form.get("refresh_token", ""))
        if found is None or found.expires < self._clock():
            raise SignInRefused("the refresh token is unknown, revoked or expired", "invalid_grant")
        if form.get("client_id") != found.client_id:
            raise SignInRefused("the refresh token was issued to another client", "invalid_grant")
        return self._tokens(found.role)

    def _tokens(self, role: str) -> dict[str, object]:
        sub, email, groups = self.users[role]
        token = tokens.mint(sub, email=email, groups=groups, ttl_seconds=self.id_token_seconds)
        return {
            "id_token": token,
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.id_token_seconds,
        }

    def revoke(self, form: dict[str, str]) -> dict[str, object]:
        """Forget a refresh token of the client (RFC 7009: an unknown token is no error)."""
        if form.get("client_id") != CLIENT_ID:
            raise SignInRefused(f"unknown client_id (the console's is {CLIENT_ID})", "invalid_client")
        with self._lock:
            found = self._sessions.get(form.get("token", ""))
            if found is not None and found.client_id == form["client_id"]:
                del self._sessions[form["token"]]
        return {}

    def set_lifetimes(self, form: dict[str, str]) -> dict[str, object]:
        """How long tokens minted from now on last (tests); a field left out is its default again."""
        try:
            id_seconds = int(form.get("id_token") or ID_TOKEN_SECONDS)
            refresh_seconds = int(form.get("refresh_token") or REFRESH_TOKEN_SECONDS)
        except ValueError as exc:
            raise SignInRefused("lifetimes are whole seconds") from exc
        if min(id_seconds, refresh_seconds) < 1:
            raise SignInRefused("lifetimes are at least one second")
        self.id_token_seconds, self.refresh_token_seconds = id_seconds, refresh_seconds
        return {"id_token": id_seconds, "refresh_token": refresh_seconds}


def _page(users: Users, params: dict[str, str], problem: str | None = None) -> str:
    """The sign-in page: one button per role, the request carried in hidden fields."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k
        in ("response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method")
    )
    if problem:
        body = f'<p role="alert" class="error">This sign-in request cannot go on: {html.escape(problem)}.</p>'
    else:
        buttons = "".join(
            f'<li><button type="submit" name="role" value="{html.escape(role)}">'
            f"Sign in as {html.escape(role)}</button> <span>{html.escape(ROLE_NOTES.get(role, ''))}"
            f" ({html.escape(email)})</span></li>"
            for role, (_, email, _) in users.items()
        )
        body = (
            f'<form method="post" action="{AUTHORIZE_PATH}">{hidden}'
            f'<fieldset><legend>Choose a demo role</legend><ul class="roles">{buttons}</ul></fieldset></form>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Sign in (local) · Boxoffice</title>"
        '<link rel="stylesheet" href="/console/style.css"></head>'
        '<body><main id="main" class="signin"><h1>Sign in to Boxoffice</h1>'
        "<p>This page exists only in the local runner (<code>make run</code>). It signs you in as one of the "
        "demo's users with the same tokens the runner prints. In AWS the console signs in through Cognito's "
        "managed login instead.</p>"
        f"{body}</main></body></html>"
    )
