"""The web console: its static files and its configuration, served by the API function (public).

``GET /`` is the console's page and ``GET /console/{file}`` its scripts and styles, read once from
the function's own ``console/`` folder (so ``sam build`` ships them with the code). Only files
that are there, with a known type, are served: a name is looked up, never joined to a path.
``GET /console/config.json`` tells the page where to sign in (the authorization-code flow with
PKCE against Cognito's managed login, an external issuer, or the local runner's sign-in page),
where to renew and revoke its tokens, from the function's environment. None of these routes is part of the API's contract (``/v1``):
they are left out of the OpenAPI document, and the console calls the API like any client.
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from boxoffice.errors import NotFound

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
PAGE_CACHE = "no-cache"
"""The page is revalidated on every load (its ETag makes that a 304), so a deploy shows at once."""
ASSET_CACHE = "public, max-age=300"
"""Scripts and styles: five minutes, then revalidated by ETag. No build step, so no hashed names."""
CONFIG_NAME = "config.json"


@dataclass(frozen=True)
class StaticFile:
    body: str
    content_type: str
    etag: str


def load_files(folder: Path) -> dict[str, StaticFile]:
    """Every servable file of ``folder`` by name (not recursive), read once per container."""
    files: dict[str, StaticFile] = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        content_type = CONTENT_TYPES.get(path.suffix)
        if path.is_file() and content_type:
            body = path.read_text(encoding="utf-8")
            digest = hashlib.sha256(body.encode()).hexdigest()[:20]
            files[path.name] = StaticFile(body, content_type, f'"{digest}"')
    return files


def console_config() -> dict[str, object]:
    """Where and how the console signs in, from the environment the template (or runner) gives it."""
    env = os.environ.get
    authorize_url = env("CONSOLE_AUTHORIZE_URL", "")
    return {
        "auth": env("CONSOLE_AUTH", "cognito"),
        "authorize_url": authorize_url or None,
        "token_url": env("CONSOLE_TOKEN_URL", "") or None,
        "revoke_url": env("CONSOLE_REVOKE_URL", "") or None,
        "logout_url": env("CONSOLE_LOGOUT_URL", "") or None,
        "client_id": env("CONSOLE_CLIENT_ID", "") or None,
        "scopes": env("CONSOLE_SCOPES", "openid email profile"),
        "conference": env("CONSOLE_CONFERENCE", "") or None,
        "sign_in_note": None
        if authorize_url
        else "Sign-in is not set up for this deployment: deploy with ConsoleUrl set to the stack's ApiUrl "
        "(Cognito), or JwtAuthorizeUrl and JwtTokenUrl (an external issuer).",
    }


def _origin(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def security_headers() -> dict[str, str]:
    """The page runs only its own scripts and talks only to this API and the token (and revoke) endpoints."""
    origins = dict.fromkeys(
        _origin(os.environ.get(name)) for name in ("CONSOLE_TOKEN_URL", "CONSOLE_REVOKE_URL")
    )
    token_origin = " ".join(o for o in origins if o)
    policy = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {token_origin}".strip(),
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def console_router(folder: Path) -> Router:
    """The console's routes, serving the files of ``folder``."""
    router = Router()
    files = load_files(folder)

    def serve(name: str, cache: str) -> Response[str]:
        """The file with its cache headers and ETag (so a Response): 304 when the client has it."""
        found = files.get(name)
        if found is None:
            raise NotFound(f"the console has no file {name}")
        headers = {"Cache-Control": cache, "ETag": found.etag, "X-Content-Type-Options": "nosniff"}
        if found.content_type.startswith("text/html"):
            headers.update(security_headers())
        if_none_match = router.current_event.headers.get("if-none-match") or ""
        if found.etag in [tag.strip() for tag in if_none_match.split(",")]:
            return Response(304, None, "", headers=headers)
        return Response(200, found.content_type, found.body, headers=headers)

    @router.get("/", include_in_schema=False)
    def page() -> Response[str]:
        return serve("index.html", PAGE_CACHE)

    @router.get("/console/<name>", include_in_schema=False)
    def asset(name: str) -> Response[Any]:
        if name == CONFIG_NAME:
            return Response(
                200,
                content_types.APPLICATION_JSON,
                console_config(),
                headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
            )
        return serve(name, ASSET_CACHE)

    return router
