"""Stripe's published OpenAPI description (`spec3.json`) as a checker of the emulator's output.

The spec is OpenAPI 3.0, where `nullable: true` only counts beside a `type`; Stripe also puts it
beside `anyOf` (an expandable id that may be null). Loading rewrites those into an explicit
"or null" branch, then validates with `openapi-schema-validator`'s OAS 3.0 validator.

Strict about keys: every object schema gets `additionalProperties: false`, so a key Stripe does
not send is a departure. The spec is API version 2024-04-10 and the emulator renders
2026-10-28.endive; the fields Stripe added in between are allowed by name in `NEWER_FIELDS`.
Loading the 6 MB file takes a moment: build one `StripeSpec` per test session.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stripe
from jsonschema.exceptions import ValidationError, best_match
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

# Where the project keeps Stripe's spec, relative to the repository (as for fixtures3.json).
SPEC_PATH = Path(
    os.environ.get("STRIPE_SPEC", Path(__file__).resolve().parents[4] / "shared/stripe/spec3.json")
)
_URI = "urn:stripe:spec3"

# Fields of API version 2026-10-28.endive that the 2024-04-10 spec does not know, per schema,
# with the stripe-python 16.1.0 class (that version's types) that declares them.
NEWER_FIELDS: dict[str, tuple[type, frozenset[str]]] = {
    "checkout.session": (
        stripe.checkout.Session,
        frozenset(
            {
                "adaptive_pricing",
                "collected_information",
                "customer_account",
                "discounts",
                "integration_identifier",
                "managed_payments",
                "origin_context",
                "permissions",
                "wallet_options",
            }
        ),
    ),
    "checkout_session_custom_text": (stripe.checkout.Session.CustomText, frozenset({"after_submit"})),
    "payment_pages_checkout_session_automatic_tax": (
        stripe.checkout.Session.AutomaticTax,
        frozenset({"provider"}),
    ),
    "payment_pages_checkout_session_customer_details": (
        stripe.checkout.Session.CustomerDetails,
        frozenset({"business_name", "individual_name"}),
    ),
    "payment_pages_checkout_session_invoice_settings": (
        stripe.checkout.Session.InvoiceCreation.InvoiceData,
        frozenset({"rendering_options"}),
    ),
    "item": (stripe.LineItem, frozenset({"adjustable_quantity", "metadata"})),
    "payment_intent": (
        stripe.PaymentIntent,
        frozenset(
            {
                "amount_details",
                "customer_account",
                "excluded_payment_method_types",
                "managed_payments",
                "source",
            }
        ),
    ),
    "charge": (stripe.Charge, frozenset({"source"})),
    "billing_details": (stripe.Charge.BillingDetails, frozenset({"tax_id"})),
    "charge_outcome": (
        stripe.Charge.Outcome,
        frozenset({"advice_code", "network_advice_code", "network_decline_code"}),
    ),
    "payment_method_details_card": (
        stripe.Charge.PaymentMethodDetails.Card,
        frozenset({"authorization_code", "network_transaction_id", "regulated_status"}),
    ),
    "payment_method": (stripe.PaymentMethod, frozenset({"customer_account"})),
    "payment_method_card": (stripe.PaymentMethod.Card, frozenset({"regulated_status"})),
    "refund": (stripe.Refund, frozenset({"customer", "customer_account", "payment_method"})),
    "event": (stripe.Event, frozenset({"context"})),
    "dispute": (stripe.Dispute, frozenset({"enhanced_eligibility_types"})),
    "dispute_evidence": (stripe.Dispute.Evidence, frozenset({"enhanced_evidence"})),
    "dispute_evidence_details": (stripe.Dispute.EvidenceDetails, frozenset({"enhanced_eligibility"})),
    "dispute_payment_method_details_card": (
        stripe.Dispute.PaymentMethodDetails.Card,
        frozenset({"case_type", "network"}),
    ),
    "balance_transaction": (stripe.BalanceTransaction, frozenset({"balance_type"})),
}

# Operations added after 2024-04-10, each answered with the object the documented operation on
# the same path (with the method given here) answers. Updating a Checkout Session came later.
NEWER_OPERATIONS: dict[tuple[str, str], str] = {("POST", "/v1/checkout/sessions/{session}"): "GET"}


def _convert(node: Any, name: str | None = None) -> Any:
    """Rewrite one schema tree in place: explicit null branches and closed objects."""
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    for key, value in list(node.items()):
        if key == "properties" and isinstance(value, dict):
            node[key] = {prop: _convert(schema) for prop, schema in value.items()}
        elif key == "$ref" and isinstance(value, str) and value.startswith("#"):
            node[key] = _URI + value  # absolute, so a schema taken out of the document still resolves
        elif key not in ("enum", "example", "x-expansionResources"):
            node[key] = _convert(value)
    if "properties" in node and "additionalProperties" not in node:
        for extra in NEWER_FIELDS.get(name or "", (object, frozenset()))[1]:
            node["properties"].setdefault(extra, {})
        node["additionalProperties"] = False
    if node.get("nullable") is True and "enum" in node and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]  # Stripe's nullable enums take null too
    if node.get("nullable") is True and "type" not in node:
        rest = {k: v for k, v in node.items() if k != "nullable"}
        return {"anyOf": [rest, {"enum": [None]}]}
    return node


@dataclass(frozen=True)
class Operation:
    """One documented operation and the schemas of its answers."""

    method: str
    template: str
    pattern: re.Pattern[str]
    ok: dict[str, Any]
    error: dict[str, Any] | None


class StripeSpec:
    """Validators for operations' responses and for objects by their `object` type."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.version: str = raw["info"]["version"]
        schemas = raw["components"]["schemas"]
        for name, schema in schemas.items():
            schemas[name] = _convert(schema, name)
        for path_item in raw["paths"].values():
            for operation in path_item.values():
                if isinstance(operation, dict) and "responses" in operation:
                    operation["responses"] = _convert(operation["responses"])
        self.schemas: dict[str, Any] = schemas
        resource = Resource(contents=raw, specification=DRAFT4)
        self._registry: Registry[Any] = Registry().with_resource(_URI, resource)
        self.operations: list[Operation] = []
        for template, path_item in raw["paths"].items():
            regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            for method, operation in path_item.items():
                responses = operation.get("responses") if isinstance(operation, dict) else None
                ok = (responses or {}).get("200", {}).get("content", {}).get("application/json")
                if ok is None:
                    continue  # not a JSON operation (file downloads)
                default = responses.get("default", {}).get("content", {}).get("application/json", {})
                self.operations.append(
                    Operation(
                        method.upper(), template, re.compile(regex), ok["schema"], default.get("schema")
                    )
                )
        # Exact templates first, so `/v1/checkout/sessions/{session}` never takes `/expire`.
        self.operations.sort(key=lambda op: op.template.count("{"))

    @classmethod
    def load(cls, path: Path = SPEC_PATH) -> StripeSpec:
        """Read and convert the spec file."""
        return cls(json.loads(path.read_text()))

    def operation(self, method: str, path: str) -> Operation:
        """The documented operation for `method path` (KeyError when Stripe has none)."""
        for operation in self.operations:
            if operation.pattern.fullmatch(path):
                if operation.method == method:
                    return operation
                if NEWER_OPERATIONS.get((method, operation.template)) == operation.method:
                    return operation
        raise KeyError(f"{method} {path} is not an operation of Stripe's API {self.version}")

    def _errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        validator = OAS30Validator(schema, registry=self._registry)
        return [_describe(error) for error in validator.iter_errors(instance)]

    def _ref(self, pointer: str) -> dict[str, Any]:
        return {"$ref": f"{_URI}#{pointer}"}

    def response_errors(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """Departures of one response body from its operation's documented answer."""
        operation = self.operation(method, path)
        schema = operation.ok if status == 200 else operation.error
        if schema is None:
            return [f"{method} {operation.template} documents no answer for status {status}"]
        return self._errors(schema, body)

    def object_errors(self, obj: dict[str, Any]) -> list[str]:
        """Departures of an object from the schema named by its `object` field."""
        name = obj.get("object")
        if name not in self.schemas:
            return [f"Stripe's spec has no object type {name!r}"]
        return self._errors(self._ref(f"/components/schemas/{name}"), obj)

    def event_errors(self, event: dict[str, Any]) -> list[str]:
        """Departures of an event envelope and of its `data.object`."""
        errors = self._errors(self._ref("/components/schemas/event"), event)
        return errors + [f"data.object: {e}" for e in self.object_errors(event["data"]["object"])]


def _describe(error: ValidationError) -> str:
    """The deepest, most specific reason, with the JSON path where it happened."""
    while error.context:
        # Inside an anyOf, the branch that got furthest (and matched the instance's type) says most.
        error = best_match(error.context)
    where = "".join(f"[{part!r}]" for part in error.absolute_path) or "<root>"
    return f"{where}: {error.message}"
