"""Every tag the program sets is one AWS accepts.

AWS's tagging rules (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html,
"Tag naming limits and requirements"): a key of 1 to 128 and a value of 0 to 256
characters, letters, digits, spaces and `_ . : / = + - @` only, and neither may start
with `aws:`. Pulumi's mocks and moto accept anything, so a `#` in a value would pass
here and fail `pulumi up`.
"""

import pytest

ALLOWED = set("_.:/=+-@ ")


def _acceptable(text: str) -> bool:
    return all(c.isalnum() or c in ALLOWED for c in text) and not text.lower().startswith("aws:")


def _tagged(run):
    for r in run.mocks.resources:
        for field in ("tags", "tagsAll"):
            tags = r.inputs.get(field)
            if isinstance(tags, dict):
                yield r, tags


def test_the_rule_refuses_what_aws_refuses():
    assert _acceptable("docs/runbooks.md") and _acceptable("service-degraded") and _acceptable("")
    assert not _acceptable("docs/runbooks.md#service-degraded")
    assert not _acceptable("aws:cloudformation")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_tag_is_one_aws_accepts(stack, dev_run, prod_run):
    run = {"dev": dev_run, "prod": prod_run}[stack]
    seen = 0
    for resource, tags in _tagged(run):
        for key, value in tags.items():
            seen += 1
            assert 1 <= len(key) <= 128 and _acceptable(key), (resource.name, key)
            assert isinstance(value, str) and len(value) <= 256 and _acceptable(value), (resource.name, key, value)
    assert seen > 100  # the alarms alone carry severity tags
