"""Tenants beyond the demo conference the lane's ``demo`` fixture sets up."""

from tests.support.functions import api_fn
from tests.support.http import ADMIN, DEMO_CONFERENCE, OTHER_STAFF, call


def other_conference() -> None:
    """A second tenant ``other`` with its own catalog: ids that exist only there.

    A ticket type ``vip``, an add-on ``dinner`` and a sponsor ``globex``, set up by ``other``'s staff.
    """
    api = api_fn()
    body = {**DEMO_CONFERENCE, "name": "Other Conf"}
    assert call(api, "PUT", "/v1/conferences/other", body=body, claims=ADMIN).status == 201
    for path, item in [
        ("ticket-types/vip", {"name": "VIP", "price": 90000, "bulk_enabled": True}),
        ("addons/dinner", {"name": "Dinner", "price": 7000, "bulk_enabled": True}),
        ("sponsors/globex", {"name": "Globex", "slug": "globex", "contact_email": "ops@globex.example"}),
    ]:
        reply = call(api, "PUT", f"/v1/conferences/other/{path}", body=item, claims=OTHER_STAFF)
        assert reply.status == 201, reply.text
