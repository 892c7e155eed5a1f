"""A small IAM policy evaluator: enough of AWS's rules to check the program's identity
policies and KMS key policies against the calls the functions really make.

Implemented from the IAM policy evaluation logic and the policy element reference:
- an explicit Deny wins, then an Allow, otherwise the request is implicitly denied
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- Action and Resource match with `*` and `?` (actions case-insensitively; ARNs segment by
  segment, the wildcards not crossing the colons of the first five segments)
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
- conditions: every operator of a statement must match, every key of an operator, any
  value of a key; condition key names are case-insensitive; a key missing from the
  request fails the operator unless it ends in IfExists (or is tested with Null)
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
- KMS: a key policy is the primary control; its statement naming the account's root
  lets IAM policies in the account grant the key, so a principal is allowed when the key
  policy allows it directly, or allows the account and the principal's IAM policy allows
  https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam
  https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html

What it cannot evaluate (policy variables, operators it does not know) raises
`Unsupported` rather than guessing: a wrong "allowed" would hide exactly what it is for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

ContextValue = str | bool | int | Sequence[str]


class Unsupported(ValueError):
    """A policy construct this evaluator does not implement."""


@dataclass(frozen=True)
class Request:
    action: str  # "s3:GetObject"
    resource: str  # an ARN, or "*"
    context: Mapping[str, ContextValue] = field(default_factory=dict)  # condition keys
    principal: str = ""  # an IAM ARN, or a service principal "logs.eu-west-1.amazonaws.com"
    service_principal: bool = False  # `principal` is a service, not an IAM principal


@dataclass(frozen=True)
class Decision:
    allowed: bool
    allowed_by: tuple[str, ...] = ()  # Sids (or indexes) of the Allow statements that matched
    denied_by: tuple[str, ...] = ()  # Sids of the Deny statements that matched

    def __bool__(self) -> bool:
        return self.allowed


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    if "${" in pattern:
        raise Unsupported(f"policy variables are not evaluated: {pattern}")
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def arn_matches(pattern: str, arn: str) -> bool:
    """ARN matching as IAM does it: segment by segment for the first five segments."""
    if pattern == "*":
        return True
    p, a = pattern.split(":", 5), arn.split(":", 5)
    if len(p) != 6 or len(a) != 6:
        # A malformed ARN pattern matches nothing (strict: a wrong "allowed" hides bugs).
        return not pattern.startswith("arn:") and len(a) != 6 and _glob(pattern, arn)
    return all(_glob(ps, as_) for ps, as_ in zip(p, a, strict=True))


def action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, action, ignore_case=True)


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _string(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _number(v) -> float:
    return float(v)


_SINGLE = {
    "StringEquals": lambda want, got: _string(got) == want,
    "StringNotEquals": lambda want, got: _string(got) != want,
    "StringEqualsIgnoreCase": lambda want, got: _string(got).lower() == want.lower(),
    "StringNotEqualsIgnoreCase": lambda want, got: _string(got).lower() != want.lower(),
    "StringLike": lambda want, got: _glob(want, _string(got)),
    "StringNotLike": lambda want, got: not _glob(want, _string(got)),
    "ArnEquals": lambda want, got: arn_matches(want, _string(got)),
    "ArnLike": lambda want, got: arn_matches(want, _string(got)),
    "ArnNotEquals": lambda want, got: not arn_matches(want, _string(got)),
    "ArnNotLike": lambda want, got: not arn_matches(want, _string(got)),
    "Bool": lambda want, got: _string(got).lower() == _string(want).lower(),
    "NumericEquals": lambda want, got: _number(got) == _number(want),
    "NumericNotEquals": lambda want, got: _number(got) != _number(want),
    "NumericLessThan": lambda want, got: _number(got) < _number(want),
    "NumericLessThanEquals": lambda want, got: _number(got) <= _number(want),
    "NumericGreaterThan": lambda want, got: _number(got) > _number(want),
    "NumericGreaterThanEquals": lambda want, got: _number(got) >= _number(want),
}
# Negated operators match when no value matches: "not any", rather than "any not".
_NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
    "NumericNotEquals",
}


def _lookup(context: Mapping[str, ContextValue], key: str):
    lowered = key.lower()
    for k, v in context.items():
        if k.lower() == lowered:
            return True, v
    return False, None


def _operator_matches(operator: str, conditions: Mapping[str, object], context: Mapping[str, ContextValue]) -> bool:
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
        if qualifier not in ("ForAnyValue", "ForAllValues"):
            raise Unsupported(f"condition set operator {qualifier}")
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    for key, wanted in conditions.items():
        wanted = [_string(w) for w in _as_list(wanted)]
        present, got = _lookup(context, key)
        if base == "Null":
            if not any((w.lower() == "true") == (not present) for w in wanted):
                return False
            continue
        test = _SINGLE.get(base)
        if test is None:
            raise Unsupported(f"condition operator {operator}")
        if not present:
            if if_exists or qualifier == "ForAllValues":
                continue
            return False
        values = _as_list(got)
        if qualifier == "ForAllValues":
            ok = all(_value_matches(base, test, wanted, v) for v in values)
        elif qualifier == "ForAnyValue":
            ok = any(_value_matches(base, test, wanted, v) for v in values)
        else:
            if len(values) != 1:
                raise Unsupported(f"multivalued key {key} needs ForAnyValue or ForAllValues")
            ok = _value_matches(base, test, wanted, values[0])
        if not ok:
            return False
    return True


def _value_matches(base, test, wanted, value) -> bool:
    if base in _NEGATED:
        return all(test(w, value) for w in wanted)
    return any(test(w, value) for w in wanted)


def conditions_match(condition: Mapping[str, Mapping] | None, context: Mapping[str, ContextValue]) -> bool:
    return all(_operator_matches(op, keys, context) for op, keys in (condition or {}).items())


def principal_matches(principal_element, request: Request, delegate_to_iam: bool = False) -> bool:
    """Whether a resource policy's Principal names the requester. With `delegate_to_iam`,
    an account principal (`arn:aws:iam::<account>:root` or the account id) matches every
    IAM principal of that account (their IAM policies then decide)."""
    if principal_element == "*":
        return True
    if not isinstance(principal_element, Mapping):
        raise Unsupported(f"principal {principal_element!r}")
    if request.service_principal:
        return request.principal in _as_list(principal_element.get("Service"))
    for p in _as_list(principal_element.get("AWS")):
        if p == "*" or p == request.principal:
            return True
        account = (
            p
            if re.fullmatch(r"\d{12}", p)
            else (p.split(":")[4] if re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:root", p) else None)
        )
        if account and delegate_to_iam and request.principal.split(":")[4:5] == [account]:
            return True
    return False


def _statements(policy: Mapping) -> list[Mapping]:
    return _as_list(policy.get("Statement"))


def _element_matches(s: Mapping, element: str, value: str, matches) -> bool:
    """Action/NotAction or Resource/NotResource of a statement against the request's value."""
    if element in s:
        return any(matches(p, value) for p in _as_list(s[element]))
    if f"Not{element}" in s:
        return not any(matches(p, value) for p in _as_list(s[f"Not{element}"]))
    raise Unsupported(f"a statement without {element} or Not{element}")


def _statement_applies(s: Mapping, request: Request) -> bool:
    return (
        _element_matches(s, "Action", request.action, action_matches)
        and _element_matches(s, "Resource", request.resource, arn_matches)
        and conditions_match(s.get("Condition"), request.context)
    )


def _sid(s: Mapping, index: int) -> str:
    return s.get("Sid") or f"#{index}"


def evaluate(policy: Mapping, request: Request) -> Decision:
    """An identity-based policy (statements without Principal) for one request."""
    allows: list[str] = []
    denies: list[str] = []
    for i, s in enumerate(_statements(policy)):
        if "Principal" in s or "NotPrincipal" in s:
            raise Unsupported("a Principal in an identity-based policy")
        if _statement_applies(s, request):
            (denies if s["Effect"] == "Deny" else allows).append(_sid(s, i))
    return Decision(bool(allows) and not denies, tuple(allows), tuple(denies))


def evaluate_resource_policy(policy: Mapping, request: Request, delegate_to_iam: bool = False) -> Decision:
    """A resource policy (a key policy): only statements whose Principal names the requester."""
    allows: list[str] = []
    denies: list[str] = []
    for i, s in enumerate(_statements(policy)):
        if "NotPrincipal" in s:
            raise Unsupported("NotPrincipal")
        if principal_matches(s.get("Principal"), request, delegate_to_iam) and _statement_applies(s, request):
            (denies if s["Effect"] == "Deny" else allows).append(_sid(s, i))
    return Decision(bool(allows) and not denies, tuple(allows), tuple(denies))


def default_key_policy(account_id: str) -> dict:
    """What KMS gives a key created without a policy."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def kms_allowed(key_policy: Mapping, identity_policies: Iterable[Mapping], request: Request) -> Decision:
    """A KMS request by an IAM principal of the key's account: allowed when the key policy
    allows the principal itself, or allows its account (IAM delegation) and an identity
    policy allows; any explicit Deny in either refuses."""
    direct = evaluate_resource_policy(key_policy, request, delegate_to_iam=False)
    through_account = evaluate_resource_policy(key_policy, request, delegate_to_iam=True)
    identity = [evaluate(p, request) for p in identity_policies]
    denied = through_account.denied_by + tuple(d for i in identity for d in i.denied_by)
    if denied:
        return Decision(False, (), denied)
    if direct.allowed:
        return Decision(True, direct.allowed_by)
    if through_account.allowed:
        allowed = tuple(a for i in identity for a in i.allowed_by)
        if allowed:
            return Decision(True, through_account.allowed_by + allowed)
    return Decision(False)
