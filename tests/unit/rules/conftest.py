"""Pure rules: functions of their arguments, tested with no server, no moto and no emulator.

The unit lane's autouse ``aws`` fixture resets moto before every test; nothing here touches AWS,
so it is replaced by one that does nothing (and the moto server is never started for these).
"""

import pytest


@pytest.fixture(autouse=True)
def aws() -> None:
    """No AWS account: the rules under test read nothing and write nothing."""
