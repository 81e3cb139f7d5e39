"""``make lint``'s check of the OpenAPI document: valid OpenAPI 3, and the contract a client relies on.

Beyond ``openapi-spec-validator`` it checks what a generated client needs: every route of
template.yaml under ``/v1/`` is an operation (and nothing else is; the web console's pages are
not the API), each operation's security matches the route's authorizer, every error answer uses
the one error schema, and each operation lists the statuses any route can answer. It builds the document offline; nothing is called.

Run: ``python -m local.openapi_check`` (exit 1 with the problems listed).
"""

import os
import re
import sys
from typing import Any

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
GATEWAY_REF = {"$ref": "#/components/schemas/GatewayMessage"}
ALWAYS = {"400", "413", "500"}
API_PREFIX = "/v1/"


def _shape(key: str) -> str:
    """``GET /a/{id}`` and ``GET /a/{order_id}`` are the same route: parameter names aside."""
    return re.sub(r"\{\w+\}", "{}", key)


def problems(document: dict[str, Any]) -> list[str]:
    """What is wrong with ``document`` as our API's contract (empty when nothing is)."""
    from openapi_spec_validator import validate

    from local.template import load

    found: list[str] = []
    try:
        validate(document)
    except Exception as exc:  # the validator raises several types; all mean "invalid"
        found.append(f"not valid OpenAPI: {exc}")
    # The web console's files (/ and /console/...) are pages for browsers, not the API's contract.
    routes = {_shape(f"{r.method} {r.path}"): r for r in load().routes if r.path.startswith(API_PREFIX)}
    operations = {
        _shape(f"{method.upper()} {path}"): op
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    }
    for key in sorted(set(routes) - set(operations)):
        found.append(f"{key}: a route of template.yaml missing from the document")
    for key in sorted(set(operations) - set(routes)):
        found.append(f"{key}: in the document but no route of template.yaml")
    for key, op in sorted(operations.items()):
        responses = op.get("responses", {})
        if missing := ALWAYS - set(responses):
            found.append(f"{key}: does not list {sorted(missing)}")
        if key in routes and routes[key].authorized != bool(op.get("security")):
            found.append(f"{key}: security {op.get('security')} but authorizer={routes[key].authorized}")
        if routes.get(key) and routes[key].authorized and "401" not in responses:
            found.append(f"{key}: needs a token but does not list 401")
        if not any(status.startswith("2") for status in responses):
            found.append(f"{key}: no success status")
        for status, response in responses.items():
            if status[0] in "45":
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                expected = {"anyOf": [ERROR_REF, GATEWAY_REF]} if status in ("401", "413") else ERROR_REF
                if schema != expected:
                    found.append(f"{key} {status}: error body is {schema}, not {expected}")
    return found


def main() -> int:
    # Nothing here calls AWS; settings only read these (clients wait for a first request).
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("TABLE_NAME", "boxoffice-lint")
    sys.path.insert(0, "layers/boxoffice")
    from boxoffice.api.openapi import openapi_document

    document = openapi_document()
    found = problems(document)
    for problem in found:
        print(problem, file=sys.stderr)
    count = sum(len(ops) for ops in document["paths"].values())
    print(f"OpenAPI document: {count} operations, {'OK' if not found else f'{len(found)} problems'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
