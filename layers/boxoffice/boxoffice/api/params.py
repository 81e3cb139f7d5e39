"""Path parameters the routes share: each identifier with its pattern, validated and documented.

They live here rather than in one resource's route module, so a route module takes a path type
without importing another resource's service and models (checkout's routes once built every
conference model for ``ConferenceId``).
"""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from boxoffice.patterns import CONFERENCE_ID_PATTERN, ENTRY_ID_PATTERN

ConferenceId = Annotated[str, Path(pattern=CONFERENCE_ID_PATTERN, description="Conference slug")]
EntryId = Annotated[str, Path(pattern=ENTRY_ID_PATTERN)]
OrderId = Annotated[str, Path(pattern=r"^ord_[a-f0-9]{16}$")]
PurchaseId = Annotated[str, Path(pattern=r"^bp_[a-f0-9]{16}$")]
