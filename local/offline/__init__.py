"""The local stack's stand-in for Amazon Bedrock: the offline analyser (provider.py),
its rule-based lab-value reader (labs.py, lab_catalogue.json) and the request rules
Bedrock checks before any model runs (converse_rules.py).

Not product code: no Lambda archive holds it (tests/components/test_packaging.py), and
the process function never imports it. Whoever runs the functions in its own process
installs it behind the provider interface (functions/process/providers.py)."""

from __future__ import annotations


def install():
    """Puts a new offline analyser in Bedrock's place for this process; returns it.
    `functions.process.providers.install(None)` takes it out again."""
    from functions.process import providers
    from local.offline.provider import OfflineProvider

    analyser = OfflineProvider()
    providers.install(analyser)
    return analyser
