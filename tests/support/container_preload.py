"""Imported once by the container server (see ``containers``): what a warm container holds.

Every function's code is imported, and the AWS clients the code caches are made, with botocore's
data files loaded once and shared by every botocore session (PynamoDB makes a session per
connection; reading the files again in each container would cost far more than the race). No
request is sent here, so no socket exists yet: each container opens its own on first use.
The clients point where the environment pointed when the server started; ``containers`` checks
that each race still runs in that environment.
"""

import os

import botocore.loaders
import botocore.session

from local.lambda_runtime import warm_clients
from tests.support.containers import ENDPOINT_VARIABLES, install_counter
from tests.support.functions import FUNCTIONS, load_function

install_counter()
_LOADER = botocore.loaders.create_loader()
botocore.session.create_loader = lambda search_path_string=None: _LOADER

for _name in FUNCTIONS:
    load_function(_name)


warm_clients()
SERVER_ENDPOINTS = {name: os.environ.get(name) for name in ENDPOINT_VARIABLES}
