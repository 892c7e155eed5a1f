"""Serenya backend: stack settings -> layers -> exports."""

import pulumi

from components import config, packaging
from components.stack import build_stack
from functions.catalog import CATALOG

settings = config.from_pulumi()
outputs = build_stack(settings, CATALOG, packaging.layer_paths(CATALOG, build=True))
for key, value in outputs.items():
    pulumi.export(key, value)
