"""The base of every request and response shape the services define (pydantic models).

A shape's validator and serializer are built on first use (pydantic's ``defer_build``), not when
its module is imported: a function imports the modules of the routes it serves, and those hold
more shapes than its requests use (conferences alone defines nine). The first request that
validates or renders a shape builds it, once per container, as the OpenAPI document does for
every shape.
"""

from pydantic import BaseModel, ConfigDict


class Shape(BaseModel):
    """A pydantic model built on first use."""

    model_config = ConfigDict(defer_build=True)


def build_all() -> list[str]:
    """Build every shape defined so far (a SnapStart snapshot should hold them built)."""
    built: list[str] = []
    pending: list[type[Shape]] = list(Shape.__subclasses__())
    while pending:
        shape = pending.pop()
        pending.extend(shape.__subclasses__())
        shape.model_rebuild()
        built.append(shape.__name__)
    return built
