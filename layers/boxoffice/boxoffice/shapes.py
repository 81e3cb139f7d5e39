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
