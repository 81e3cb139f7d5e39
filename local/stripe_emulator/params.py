"""Parameter schemas: type-check decoded form values and name the bad `param` as Stripe does.

A schema is a tree of `Field`s. `Obj.validate` rejects unknown keys (`parameter_unknown`),
reports missing required keys (`parameter_missing`) and converts strings into ints, bools, lists
and dicts. Errors carry the full bracketed name, e.g. `line_items[0][price_data][unit_amount]`.
An empty string means "not set", as it does for Stripe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import StripeError, invalid_integer, invalid_request, parameter_missing, parameter_unknown

type Check = Callable[[Any, str], None]


def child_name(parent: str, key: str | int) -> str:
    """`line_items` + `0` → `line_items[0]`; the top level has no parent."""
    return f"{parent}[{key}]" if parent else str(key)


class Field:
    """Base class: `validate` returns the converted value or raises `StripeError`."""

    def __init__(self, *, required: bool = False, checks: tuple[Check, ...] = ()) -> None:
        self.required = required
        self.checks = checks

    def convert(self, value: Any, name: str) -> Any:
        """Turn the raw decoded value into the Python value (override)."""
        return value

    def validate(self, value: Any, name: str) -> Any:
        """Convert then run the extra checks."""
        converted = self.convert(value, name)
        for check in self.checks:
            check(converted, name)
        return converted


class String(Field):
    """A string, optionally limited to `choices` or `max_length`."""

    def __init__(
        self,
        *,
        choices: tuple[str, ...] | None = None,
        max_length: int = 5000,
        required: bool = False,
        checks: tuple[Check, ...] = (),
    ) -> None:
        super().__init__(required=required, checks=checks)
        self.choices = choices
        self.max_length = max_length

    def convert(self, value: Any, name: str) -> Any:
        if not isinstance(value, str):
            raise invalid_request(f"Invalid string: {name} must be a string", param=name)
        if len(value) > self.max_length:
            raise invalid_request(
                f"Invalid string: {value[:20]}...; must be at most {self.max_length} characters",
                param=name,
                code="string_length_exceeds_maximum",
            )
        if self.choices is not None and value not in self.choices:
            options = ", ".join(self.choices[:-1]) + f", or {self.choices[-1]}"
            if len(self.choices) == 1:
                options = self.choices[0]
            raise invalid_request(
                f"Invalid {name.split('[')[-1].rstrip(']')}: must be one of {options}", param=name
            )
        return value


class Integer(Field):
    """A base-10 integer with optional bounds."""

    def __init__(
        self,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        required: bool = False,
        checks: tuple[Check, ...] = (),
    ) -> None:
        super().__init__(required=required, checks=checks)
        self.minimum = minimum
        self.maximum = maximum

    def convert(self, value: Any, name: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise invalid_integer(name, value)
        if isinstance(value, str):
            if not re.fullmatch(r"-?\d{1,19}", value.strip()):
                raise invalid_integer(name, value)
            value = int(value)
        if self.minimum is not None and value < self.minimum:
            raise invalid_request(
                f"This value must be greater than or equal to {self.minimum}.",
                param=name,
                code="parameter_invalid_integer",
            )
        if self.maximum is not None and value > self.maximum:
            raise invalid_request(
                f"This value must be less than or equal to {self.maximum}.",
                param=name,
                code="parameter_invalid_integer",
            )
        return value


class Boolean(Field):
    """`true` / `false`."""

    def convert(self, value: Any, name: str) -> Any:
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise invalid_request(f"Invalid boolean: {value}", param=name)


class Metadata(Field):
    """Stripe metadata: up to 50 string keys (≤ 40 chars) with string values (≤ 500 chars)."""

    def convert(self, value: Any, name: str) -> Any:
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid_request(f"Invalid object: {name} must be a hash of strings", param=name)
        result: dict[str, str] = {}
        for key, item in value.items():
            item_name = child_name(name, key)
            if not isinstance(item, str):
                raise invalid_request(f"Invalid string: {item_name} must be a string", param=item_name)
            if len(key) > 40:
                raise invalid_request(
                    f"Metadata keys can have up to 40 characters: {key} has {len(key)}.", param=item_name
                )
            if len(item) > 500:
                raise invalid_request(
                    f"Metadata values can have up to 500 characters, but you passed in a value that is "
                    f"{len(item)} characters. Invalid value: {item[:20]}...",
                    param=item_name,
                )
            if item != "":
                result[key] = item
        if len(result) > 50:
            raise invalid_request("You can have up to 50 metadata keys.", param=name)
        return result


class Array(Field):
    """A list, sent as `x[]=a` or `x[0]=a&x[1]=b`."""

    def __init__(
        self,
        item: Field,
        *,
        max_items: int | None = None,
        required: bool = False,
        checks: tuple[Check, ...] = (),
    ) -> None:
        super().__init__(required=required, checks=checks)
        self.item = item
        self.max_items = max_items

    def convert(self, value: Any, name: str) -> Any:
        if value == "":
            return []
        if isinstance(value, dict):
            if not all(re.fullmatch(r"\d+", key) for key in value):
                raise invalid_request(f"Invalid array: {name} must be an array", param=name)
            items = [value[key] for key in sorted(value, key=int)]
        elif isinstance(value, list):
            items = value
        else:
            raise invalid_request(f"Invalid array: {name} must be an array", param=name)
        if self.max_items is not None and len(items) > self.max_items:
            raise invalid_request(f"{name} can have at most {self.max_items} items.", param=name)
        return [self.item.validate(item, child_name(name, index)) for index, item in enumerate(items)]


class Obj(Field):
    """A hash with known keys; anything else is `parameter_unknown`."""

    def __init__(
        self,
        fields: Mapping[str, Field],
        *,
        required: bool = False,
        checks: tuple[Check, ...] = (),
    ) -> None:
        super().__init__(required=required, checks=checks)
        self.fields = dict(fields)

    def convert(self, value: Any, name: str) -> Any:
        if not isinstance(value, dict):
            raise invalid_request(f"Invalid object: {name} must be an object", param=name)
        for key in value:
            if key not in self.fields:
                raise parameter_unknown(child_name(name, key))
        result: dict[str, Any] = {}
        for key, field in self.fields.items():
            raw = value.get(key)
            item_name = child_name(name, key)
            if raw is None or (raw == "" and not isinstance(field, Metadata | Array)):
                if field.required:
                    raise parameter_missing(item_name)
                continue
            result[key] = field.validate(raw, item_name)
        return result


class RangeFilter(Field):
    """`created=123` or `created[gte]=…&created[lt]=…`, returned as a dict of bounds."""

    def convert(self, value: Any, name: str) -> Any:
        if isinstance(value, str):
            exact = Integer().validate(value, name)
            return {"gte": exact, "lte": exact}
        bounds = Obj({op: Integer() for op in ("gt", "gte", "lt", "lte")}).validate(value, name)
        return bounds


def in_range(bounds: dict[str, int], value: int) -> bool:
    """Whether `value` satisfies a `RangeFilter` result."""
    return (
        ("gt" not in bounds or value > bounds["gt"])
        and ("gte" not in bounds or value >= bounds["gte"])
        and ("lt" not in bounds or value < bounds["lt"])
        and ("lte" not in bounds or value <= bounds["lte"])
    )


EXPAND = Array(String(), max_items=20)

LIST_PARAMS: dict[str, Field] = {
    "limit": Integer(minimum=1, maximum=100),
    "starting_after": String(),
    "ending_before": String(),
    "expand": EXPAND,
}


def validate(schema: Obj, params: dict[str, Any]) -> dict[str, Any]:
    """Validate a whole request's parameters against `schema`."""
    result: dict[str, Any] = schema.validate(params, "")
    if "starting_after" in result and "ending_before" in result:
        raise StripeError(
            400,
            "invalid_request_error",
            "You may only specify one of these parameters: ending_before, starting_after.",
            code="parameters_exclusive",
            param="ending_before",
        )
    return result
