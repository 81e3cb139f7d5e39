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
