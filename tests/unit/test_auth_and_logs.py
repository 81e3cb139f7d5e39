"""Claims parsing, roles, and secrets kept out of logs."""

import io
import json
import logging

import pytest

from boxoffice.auth import Caller, caller_from_claims, parse_groups
from boxoffice.errors import Forbidden, Unauthenticated
from boxoffice.observability import SecretRedactingFilter, logger, redact
from tests.support.http import ADMIN, DEMO_CONFERENCE, call


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["admin", "staff:demo"], {"admin", "staff:demo"}),
        ("[admin staff:demo]", {"admin", "staff:demo"}),
        ("[staff:demo]", {"staff:demo"}),
        ("admin,staff:demo", {"admin", "staff:demo"}),
        ("[]", set()),
        ("", set()),
        (None, set()),
        (42, set()),
    ],
)
def test_groups_parse_from_a_list_or_api_gateways_flattened_string(raw, expected):
    assert parse_groups(raw) == expected


def test_roles_follow_groups():
    caller = Caller(
        "u", groups=frozenset({"staff:demo", "sponsor:demo:acme", "sponsor:other:zeta", "sponsor:demo:"})
    )
    assert caller.is_staff("demo")
    assert not caller.is_staff("other")
    assert not caller.is_admin
    assert caller.sponsor_ids("demo") == {"acme"}
    assert caller.sponsor_ids("other") == {"zeta"}
    with pytest.raises(Forbidden):
        caller.require_admin()
    with pytest.raises(Forbidden):
        caller.require_staff("other")
    admin = Caller("a", groups=frozenset({"admin"}))
    assert admin.is_staff("any-conference")


@pytest.mark.parametrize("claims", [None, {}, {"sub": ""}, {"sub": 5}, {"email": "x@example.com"}])
def test_no_subject_means_unauthenticated(claims):
    with pytest.raises(Unauthenticated):
        caller_from_claims(claims)


def test_redaction_masks_every_kind_of_stripe_secret():
    text = "keys sk_test_abc123 sk_live_ZZZ999 rk_live_R3stricted whsec_Sig+nature/== pk_test_public"
    assert redact(text) == "keys [REDACTED] [REDACTED] [REDACTED] [REDACTED] pk_test_public"


def test_log_records_with_secrets_are_masked_in_message_args_and_extras():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key %s", ("sk_test_secret123",), None)
    record.webhook = "whsec_secret123"
    SecretRedactingFilter().filter(record)
    assert record.getMessage() == "key [REDACTED]"
    assert record.webhook == "[REDACTED]"


def test_json_logs_of_a_request_carry_a_correlation_id_and_no_secret(api, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    logger.info("stripe key is sk_test_leaky1234", extra={"secret": "whsec_leaky1234"})
    call(api, "PUT", "/v1/conferences/demo", body=DEMO_CONFERENCE, claims=ADMIN)
    out = stream.getvalue()
    assert "sk_test_" not in out
    assert "whsec_" not in out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines[0]["message"] == "stripe key is [REDACTED]"
    (handled,) = [line for line in lines if line["message"] == "request handled"]
    assert handled["correlation_id"]
    assert handled["route"] == "PUT /v1/conferences/{cid}"
    assert handled["status"] == 201
