"""Imported once by the runner's environment server: what every warm environment starts from.

Every function's ``app.py`` is imported here (each function's init, shared page by page by the
forked environments), but nothing is invoked: an environment forked from this server runs its
first invocation cold, as Powertools reports (``cold_start: true``), then stays warm.

botocore's data files (service models, endpoints) are read once here through one shared
loader, and the clients the code caches (PynamoDB's, the bus's) are made here, as the tests'
container server does: no request is sent, so no socket exists yet and each environment opens
its own connections on first use. A cold start then costs milliseconds, not seconds of parsing
JSON on a 2-core laptop, while each environment still has its own cold ``cold_start: true``.
"""

import importlib
import os
from types import ModuleType

from local.environments import METER_VARIABLE

if os.environ.get(METER_VARIABLE):
    importlib.import_module(os.environ[METER_VARIABLE]).install()  # before any client is made

import boto3
import botocore.loaders
import botocore.session

from local.lambda_runtime import load_handler_module, warm_clients
from local.template import load

_LOADER = botocore.loaders.create_loader()
botocore.session.create_loader = lambda search_path_string=None: _LOADER

MODULES: dict[str, ModuleType] = {
    function.logical_id: load_handler_module(function.code_uri, function.logical_id)
    for function in load().functions.values()
}
"""Each function's imported ``app`` module, by logical id."""

for _service in ("dynamodb", "events", "secretsmanager", "sqs"):
    boto3.session.Session().client(_service)  # fills the shared loader's cache; sends nothing


def _import_lazy_modules() -> None:
    """The modules the code imports on first use (to keep Lambda's own cold starts lean).

    Here they are imported once for every environment, so a burst of cold environments on a
    small machine does not spend seconds each importing the Stripe SDK and friends.
    """
    import importlib
    import pkgutil

    import boxoffice

    for module in pkgutil.walk_packages(boxoffice.__path__, "boxoffice."):
        importlib.import_module(module.name)
    for name in ("stripe", "jwt", "aws_lambda_powertools.utilities.parameters"):
        importlib.import_module(name)


_import_lazy_modules()


warm_clients()
