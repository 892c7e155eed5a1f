"""serenya-account: API Gateway's logging role and account setting of one account and region.

A project of its own, not a third stack of the backend: `pulumi up` of dev or prod can
then never create, change or destroy a setting every stack of the region shares, and
dev and prod keep differing only in their Pulumi.<stack>.yaml. Its resources are
components/account.py, tested under the same mocks as the backend's layers.
"""

import sys
from pathlib import Path

import pulumi

# The engine runs this folder's program: the repository's packages are one level up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.account import build_account  # noqa: E402

for key, value in build_account(pulumi.Config("aws").require("region")).items():
    pulumi.export(key, value)
