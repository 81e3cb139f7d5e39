"""The JSON success response of a route, typed as the model its return annotation names."""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response, content_types

if TYPE_CHECKING:
    from pydantic import BaseModel


def json_response[M: "BaseModel"](status: int, model: M) -> Response[M]:
    """``model`` dumped in JSON mode as the body. Powertools reads ``Response[M]`` in the route's
    annotation for the OpenAPI document; the body it sends is the dump, so it is typed ``Response[M]``
    here rather than the ``Response[dict]`` it is."""
    response: Response[Any] = Response(status, content_types.APPLICATION_JSON, model.model_dump(mode="json"))
    return response
