"""Reads template.yaml, so the local runner routes, publishes and schedules exactly as AWS will.

Only what the runner needs is extracted: the table's key schema, each function's handler,
environment, HTTP routes, EventBridge rules and schedules. Intrinsic functions are kept as
``{"!Ref": value}``-style dicts and resolved against the local resource names.
"""

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that keeps CloudFormation's short-form tags as one-key dicts."""


def _tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(
            None, None, f"unexpected YAML node {type(node).__name__}", node.start_mark
        )
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@dataclass(frozen=True)
class Route:
    """One HTTP API route: ``GET /v1/conferences/{cid}`` and whether the JWT authorizer guards it."""

    method: str
    path: str
    function: str
    authorized: bool

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when ``method path`` is this route, else None."""
        if method.upper() != self.method and self.method != "ANY":
            return None
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class Rule:
    """An EventBridge rule: which bus, which pattern, which function."""

    name: str
    bus: Any
    pattern: dict[str, Any]
    function: str


@dataclass(frozen=True)
class Schedule:
    name: str
    function: str
    every_seconds: int


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, Any]
    timeout: int


@dataclass
class Template:
    raw: dict[str, Any]
    functions: dict[str, Function] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)

    def resources_of(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.raw["Resources"].items() if v.get("Type") == cfn_type}

    @property
    def table(self) -> tuple[str, dict[str, Any]]:
        ((logical_id, resource),) = self.resources_of("AWS::DynamoDB::Table").items()
        return logical_id, resource["Properties"]

    def route_for(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for a request; literal segments win over parameters, as in API Gateway."""
        found = [(r, p) for r in self.routes if (p := r.match(method, path)) is not None]
        found.sort(key=lambda rp: len(rp[1]))
        return found[0] if found else None


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def _rate_seconds(expression: str) -> int:
    found = _RATE.match(expression.strip())
    if not found:
        raise ValueError(f"the local runner understands only rate() schedules, not {expression!r}")
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2).rstrip("s")]


@cache
def load(path: Path = TEMPLATE) -> Template:
    """Parse ``template.yaml`` into what the runner needs."""
    raw = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    template = Template(raw=raw)
    globals_fn = raw.get("Globals", {}).get("Function", {})
    global_env = globals_fn.get("Environment", {}).get("Variables", {})
    for logical_id, resource in template.resources_of("AWS::Serverless::Function").items():
        props = resource["Properties"]
        env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        template.functions[logical_id] = Function(
            logical_id=logical_id,
            code_uri=ROOT / props["CodeUri"],
            handler=props.get("Handler", globals_fn.get("Handler", "app.handler")),
            environment=env,
            timeout=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
        )
        for event_name, event in props.get("Events", {}).items():
            kind, ev = event["Type"], event.get("Properties", {})
            if kind == "HttpApi":
                auth = ev.get("Auth", {}).get("Authorizer")
                template.routes.append(
                    Route(ev["Method"].upper(), ev["Path"], logical_id, authorized=auth != "NONE")
                )
            elif kind in ("EventBridgeRule", "CloudWatchEvent"):
                template.rules.append(
                    Rule(f"{logical_id}{event_name}", ev.get("EventBusName"), ev["Pattern"], logical_id)
                )
            elif kind in ("Schedule", "ScheduleV2"):
                template.schedules.append(
                    Schedule(
                        f"{logical_id}{event_name}",
                        logical_id,
                        _rate_seconds(ev["Schedule" if kind == "Schedule" else "ScheduleExpression"]),
                    )
                )
    return template
