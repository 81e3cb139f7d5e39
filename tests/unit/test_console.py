"""The web console is served by the API function itself: public static files and its sign-in settings."""

import json
import re
from pathlib import Path

import pytest

from local.template import ROOT, load
from tests.support.http import call

CONSOLE = ROOT / "functions" / "api" / "console"


def test_the_console_page_is_public_revalidated_and_runs_only_its_own_scripts(api):
    reply = call(api, "GET", "/")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["cache-control"] == "no-cache"
    assert reply.headers["etag"].startswith('"')
    policy = reply.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert '<script type="module" src="/console/app.js">' in reply.text


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("app.js", "text/javascript"), ("style.css", "text/css"), ("icon.svg", "image/svg+xml")],
)
def test_console_files_carry_their_type_and_are_cached_five_minutes(api, name, content_type):
    reply = call(api, "GET", f"/console/{name}")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith(content_type)
    assert reply.headers["cache-control"] == "public, max-age=300"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.text == (CONSOLE / name).read_text()


def test_a_file_the_browser_already_has_is_answered_304_without_a_body(api):
    etag = call(api, "GET", "/console/app.js").headers["etag"]
    again = call(api, "GET", "/console/app.js", headers={"if-none-match": etag})
    assert (again.status, again.text, again.headers["etag"]) == (304, "", etag)


@pytest.mark.parametrize("name", ["missing.js", "app.py", "..%2Fapp.py", "index.htm", ".hidden.js"])
def test_a_file_the_console_does_not_have_is_404_in_the_error_shape(api, name):
    reply = call(api, "GET", f"/console/{name}")
    assert reply.status == 404
    assert reply.json["error"]["code"] == "not_found"


def test_every_module_a_console_script_imports_is_a_served_file():
    for script in CONSOLE.glob("*.js"):
        for target in re.findall(r"from '\./([\w-]+\.js)'", script.read_text()):
            assert (CONSOLE / target).is_file(), f"{script.name} imports {target}"


def test_the_config_points_at_cognito_managed_login_from_the_environment(api, monkeypatch):
    domain = "https://boxoffice-1234.auth.eu-west-1.amazoncognito.com"
    monkeypatch.setenv("CONSOLE_AUTH", "cognito")
    monkeypatch.setenv("CONSOLE_AUTHORIZE_URL", f"{domain}/oauth2/authorize")
    monkeypatch.setenv("CONSOLE_TOKEN_URL", f"{domain}/oauth2/token")
    monkeypatch.setenv("CONSOLE_REVOKE_URL", f"{domain}/oauth2/revoke")
    monkeypatch.setenv("CONSOLE_LOGOUT_URL", f"{domain}/logout")
    monkeypatch.setenv("CONSOLE_CLIENT_ID", "client123")
    reply = call(api, "GET", "/console/config.json")
    assert reply.status == 200
    assert reply.headers["cache-control"] == "no-store"
    assert reply.json == {
        "auth": "cognito",
        "authorize_url": f"{domain}/oauth2/authorize",
        "token_url": f"{domain}/oauth2/token",
        "revoke_url": f"{domain}/oauth2/revoke",
        "logout_url": f"{domain}/logout",
        "client_id": "client123",
        "scopes": "openid email profile",
        "conference": None,
        "sign_in_note": None,
    }
    # The page may call the token (and revoke) endpoint, and nothing else off its own origin.
    assert f"connect-src 'self' {domain};" in call(api, "GET", "/").headers["content-security-policy"]


def test_the_config_says_plainly_when_sign_in_is_not_set_up(api, monkeypatch):
    monkeypatch.delenv("CONSOLE_AUTHORIZE_URL", raising=False)
    config = call(api, "GET", "/console/config.json").json
    assert config["authorize_url"] is None
    assert "ConsoleUrl" in config["sign_in_note"]


def test_the_console_routes_are_public_and_the_local_sign_in_is_never_deployed():
    routes = {(r.method, r.path): r for r in load().routes}
    assert not routes[("GET", "/")].authorized
    assert not routes[("GET", "/console/{file}")].authorized
    assert {r.function for p, r in routes.items() if not p[1].startswith("/v1/")} == {"ApiFunction"}
    assert "_local" not in (ROOT / "template.yaml").read_text()


def test_the_app_client_takes_the_code_flow_with_the_console_as_its_callback():
    resources = load().raw["Resources"]
    client = resources["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False  # a browser cannot keep a secret: PKCE instead
    assert client["AllowedOAuthFlows"] == {"Fn::If": ["HasConsoleUrl", ["code"], {"Ref": "AWS::NoValue"}]}
    assert client["CallbackURLs"] == {
        "Fn::If": ["HasConsoleUrl", [{"Ref": "ConsoleUrl"}], {"Ref": "AWS::NoValue"}]
    }
    assert "openid" in client["AllowedOAuthScopes"]["Fn::If"][1]
    # An hour's ID token, renewed by a refresh token that lasts a conference day and dies at sign-out.
    validity = {k: client[f"{k}TokenValidity"] for k in ("Id", "Access", "Refresh")}
    assert validity == {"Id": 1, "Access": 1, "Refresh": 12}
    assert client["TokenValidityUnits"] == {
        "AccessToken": "hours",
        "IdToken": "hours",
        "RefreshToken": "hours",
    }
    assert client["EnableTokenRevocation"] is True
    assert resources["UserPoolDomain"]["Properties"]["UserPoolId"] == {"Ref": "UserPool"}
    env = resources["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert {"CONSOLE_AUTHORIZE_URL", "CONSOLE_TOKEN_URL", "CONSOLE_REVOKE_URL", "CONSOLE_CLIENT_ID"} <= set(
        env
    )


def test_the_console_is_not_in_the_api_contract(api):
    paths = json.loads(call(api, "GET", "/v1/openapi.json").text)["paths"]
    assert all(path.startswith("/v1/") for path in paths)


def test_the_console_ships_in_the_functions_folder_sam_builds():
    code_uri = Path(load().raw["Resources"]["ApiFunction"]["Properties"]["CodeUri"])
    assert (ROOT / code_uri / "console" / "index.html").is_file()
