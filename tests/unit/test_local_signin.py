"""The runner's sign-in page: the console's authorization-code flow with PKCE, minting the demo's tokens."""

import base64
import hashlib
import http.client
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from local import runner, signin, tokens

REDIRECT = "http://127.0.0.1:3000/"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def request_for(challenge: str, **overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": signin.CLIENT_ID,
        "redirect_uri": REDIRECT,
        "state": "s-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }


@pytest.fixture
def front() -> Iterator[int]:
    """The runner's HTTP front alone (nothing behind it is needed for sign-in)."""
    stack = runner.LocalStack(api_port=0, stripe_port=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), stack._request_handler_class())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def send(port: int, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = urlencode(form) if form is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
    conn.request(method, path, body=body, headers=headers)
    reply = conn.getresponse()
    result = reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read().decode()
    conn.close()
    return result


def test_a_role_chosen_on_the_page_comes_back_as_the_runners_own_token_for_that_user(front):
    verifier, challenge = pkce()
    query = urlencode(request_for(challenge))
    status, headers, page = send(front, "GET", f"{signin.AUTHORIZE_PATH}?{query}")
    assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8")
    for role in ("admin", "staff", "sponsor", "attendee"):
        assert f'name="role" value="{role}"' in page
    status, headers, _ = send(
        front, "POST", signin.AUTHORIZE_PATH, {**request_for(challenge), "role": "sponsor"}
    )
    assert status == 303
    back = urlsplit(headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    answer = parse_qs(back.query)
    assert answer["state"] == ["s-123"]
    form = {
        "grant_type": "authorization_code",
        "client_id": signin.CLIENT_ID,
        "code": answer["code"][0],
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    status, headers, text = send(front, "POST", signin.TOKEN_PATH, form)
    assert status == 200
    claims = tokens.verify(f"Bearer {json.loads(text)['id_token']}")
    sub, email, groups = runner.DEMO_USERS["sponsor"]
    assert (claims["sub"], claims["email"], claims["cognito:groups"]) == (sub, email, groups)
    # A code is good once.
    status, _, text = send(front, "POST", signin.TOKEN_PATH, form)
    assert (status, json.loads(text)["error"]) == (400, "invalid_grant")


def test_a_code_is_refused_without_the_verifier_of_its_challenge():
    flow = signin.LocalSignIn(runner.DEMO_USERS)
    _, challenge = pkce()
    code = parse_qs(urlsplit(flow.authorize({**request_for(challenge), "role": "staff"})).query)["code"][0]
    with pytest.raises(signin.SignInRefused, match="code_verifier"):
        flow.exchange(
            {
                "grant_type": "authorization_code",
                "client_id": signin.CLIENT_ID,
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": pkce()[0],
            }
        )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"redirect_uri": "https://evil.example/"}, "redirect_uri"),
        ({"client_id": "someone-else"}, "client_id"),
        ({"code_challenge_method": "plain"}, "S256"),
        ({"response_type": "token"}, "response_type"),
    ],
)
def test_a_request_the_page_must_not_serve_is_refused_with_its_reason(front, overrides, reason):
    _, challenge = pkce()
    status, _, page = send(
        front, "GET", f"{signin.AUTHORIZE_PATH}?{urlencode(request_for(challenge, **overrides))}"
    )
    assert status == 400
    assert reason in page and 'role="alert"' in page
    assert 'name="role"' not in page


def signed_in(port: int, role: str = "staff") -> dict[str, str]:
    """The token endpoint's answer to a code for ``role``, through the runner's front."""
    verifier, challenge = pkce()
    _, headers, _ = send(port, "POST", signin.AUTHORIZE_PATH, {**request_for(challenge), "role": role})
    code = parse_qs(urlsplit(headers["location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "client_id": signin.CLIENT_ID,
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    status, _, text = send(port, "POST", signin.TOKEN_PATH, form)
    assert status == 200, text
    return json.loads(text)


def refresh(port: int, refresh_token: str, client_id: str = signin.CLIENT_ID) -> tuple[int, dict]:
    form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token}
    status, headers, text = send(port, "POST", signin.TOKEN_PATH, form)
    assert headers["cache-control"] == "no-store"
    return status, json.loads(text)


def test_a_refresh_token_renews_the_id_token_as_often_as_needed_and_is_not_replaced(front):
    first = signed_in(front)
    assert first["expires_in"] == signin.ID_TOKEN_SECONDS == 3600  # Cognito's hour
    claims = tokens.verify(f"Bearer {first['id_token']}")
    assert claims["exp"] - claims["iat"] == 3600
    for _ in range(2):
        status, renewed = refresh(front, first["refresh_token"])
        assert status == 200
        assert set(renewed) == {
            "id_token",
            "access_token",
            "token_type",
            "expires_in",
        }  # no new refresh token
        again = tokens.verify(f"Bearer {renewed['id_token']}")
        assert (again["sub"], again["email"], again["cognito:groups"]) == (
            claims["sub"],
            claims["email"],
            claims["cognito:groups"],
        )


@pytest.mark.parametrize("token", ["", "made-up", "revoked", "other-client"])
def test_a_refresh_token_that_is_not_live_for_the_client_is_refused_with_invalid_grant(front, token):
    live = signed_in(front)["refresh_token"]
    client_id = signin.CLIENT_ID
    if token == "revoked":
        form = {"token": live, "client_id": signin.CLIENT_ID}
        assert send(front, "POST", signin.REVOKE_PATH, form)[0] == 200
        token = live
    elif token == "other-client":
        token, client_id = live, "someone-else"
    status, reply = refresh(front, token, client_id)
    assert status == 400
    assert reply["error"] == "invalid_grant" and reply["error_description"]  # OAuth 2.0's error shape


def test_revoking_forgets_only_that_token_and_an_unknown_one_is_no_error(front):
    kept, revoked = signed_in(front)["refresh_token"], signed_in(front)["refresh_token"]
    for token in (revoked, revoked, "never-issued"):  # RFC 7009: 200 for tokens it does not know
        status, _, _ = send(
            front, "POST", signin.REVOKE_PATH, {"token": token, "client_id": signin.CLIENT_ID}
        )
        assert status == 200
    assert refresh(front, revoked)[0] == 400
    assert refresh(front, kept)[0] == 200
    status, _, text = send(front, "POST", signin.REVOKE_PATH, {"token": kept, "client_id": "someone-else"})
    assert (status, json.loads(text)["error"]) == (400, "invalid_client")
    assert refresh(front, kept)[0] == 200


def test_a_refresh_token_expires_after_its_lifetime():
    now = [1_000_000.0]
    flow = signin.LocalSignIn(runner.DEMO_USERS, clock=lambda: now[0])
    verifier, challenge = pkce()
    code = parse_qs(urlsplit(flow.authorize({**request_for(challenge), "role": "staff"})).query)["code"][0]
    issued = flow.exchange(
        {
            "grant_type": "authorization_code",
            "client_id": signin.CLIENT_ID,
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }
    )
    form = {
        "grant_type": "refresh_token",
        "client_id": signin.CLIENT_ID,
        "refresh_token": issued["refresh_token"],
    }
    now[0] += signin.REFRESH_TOKEN_SECONDS - 1  # the end of a twelve-hour conference day
    assert "id_token" in flow.exchange(form)
    now[0] += 2
    with pytest.raises(signin.SignInRefused, match="expired") as refused:
        flow.exchange(form)
    assert refused.value.error == "invalid_grant"


def test_tests_can_shorten_the_lifetimes_of_the_tokens_minted_from_then_on(front):
    status, _, text = send(front, "POST", signin.LIFETIMES_PATH, {"id_token": "5", "refresh_token": "60"})
    assert (status, json.loads(text)) == (200, {"id_token": 5, "refresh_token": 60})
    short = signed_in(front)
    claims = tokens.verify(f"Bearer {short['id_token']}")
    assert (short["expires_in"], claims["exp"] - claims["iat"]) == (5, 5)
    status, _, text = send(front, "POST", signin.LIFETIMES_PATH, {})  # back to the defaults
    assert json.loads(text) == {
        "id_token": signin.ID_TOKEN_SECONDS,
        "refresh_token": signin.REFRESH_TOKEN_SECONDS,
    }
    assert send(front, "POST", signin.LIFETIMES_PATH, {"id_token": "0"})[0] == 400
