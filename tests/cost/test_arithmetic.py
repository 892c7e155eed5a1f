"""The cost model's arithmetic, with numbers worked out by hand."""

import copy
import json
import math
from decimal import Decimal

import pytest

from cost.data import load_prices, load_profile
from cost.graph import Graph, poisson_sampled_share, runs_per_month
from cost.pricing import (Context, Line, alarm_metrics, custom_metric_months, keys, log_groups, money,
                          provisioned_concurrency, table)
from cost.report import break_even
from cost.usage import ProfileError, Usage, derive
from local.program import Recorded

PRICES = load_prices()
PROFILE = load_profile()
MONTH_S = 730 * 3600


def record(type_: str, logical: str, **inputs) -> Recorded:
    return Recorded(type_, logical, inputs, logical, dict(inputs))


def context(*resources: Recorded, usage: Usage = None, profile: dict = PROFILE) -> Context:
    graph = Graph("prod", "eu-west-1", tuple(resources))
    return Context(graph, usage or Usage("prod", MONTH_S), profile, PRICES)


def test_a_line_is_its_quantity_times_its_unit_price_rounded_to_the_cent():
    assert Line("Lambda", "x", 13_140_000, "GB-second", Decimal("0.0000033334"), "k").amount == Decimal("43.80")
    assert Line("S3", "x", 0.4, "GB-month", Decimal("0.0125"), "k").amount == Decimal("0.01")  # 0.005 rounds up
    assert money(Decimal("0.004999")) == Decimal("0.00")


def test_provisioned_concurrency_is_instances_times_memory_times_730_hours():
    c = context(record("aws:lambda/function:Function", "auth", name="serenya-prod-auth", memorySize=512,
                       architectures=["arm64"]),
                record("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig", "auth-pc",
                       functionName="serenya-prod-auth", qualifier="live", provisionedConcurrentExecutions=10))
    [line] = provisioned_concurrency(c)
    assert line.quantity == 10 * 0.5 * 2_628_000          # GB-seconds
    assert line.rate == Decimal("0.0000033334")
    assert line.amount == Decimal("43.80")                 # 13,140,000 x 0.0000033334 = 43.800876


def test_provisioned_concurrency_pays_only_above_60_percent_busy_on_arm64():
    # 0.0000033334 / (0.0000133334 - 0.0000077778) = 0.600007...
    assert break_even(PRICES) == pytest.approx(0.6000072, abs=1e-6)


@pytest.mark.parametrize("inputs, expected", [
    ({"metricName": "Errors", "period": 300}, (1, False)),
    ({"metricName": "Errors", "period": 10}, (1, True)),
    ({"metricQueries": [{"id": "e", "expression": "a/b"}, {"id": "a", "metric": {"period": 300}},
                        {"id": "b", "metric": {"period": 300}}]}, (2, False)),
    ({"metricQueries": [{"id": "band", "expression": "ANOMALY_DETECTION_BAND(m, 2)"},
                        {"id": "m", "metric": {"period": 60}}]}, (3, False)),
])
def test_an_alarm_is_billed_per_metric_it_reads(inputs, expected):
    assert alarm_metrics(record("aws:cloudwatch/metricAlarm:MetricAlarm", "a", **inputs)) == expected


def test_rotated_keys_cost_a_dollar_per_version_for_two_rotations_at_most():
    rotating = record("aws:kms/key:Key", "data", enableKeyRotation=True)
    fixed = record("aws:kms/key:Key", "signing", customerMasterKeySpec="ECC_NIST_P256", keyUsage="SIGN_VERIFY")
    for months, rotations in ((11, 0), (12, 1), (36, 2), (60, 2)):
        profile = {**PROFILE, "months_in_operation": months}
        lines = {line.price: line for line in keys(context(rotating, fixed, profile=profile))}
        assert lines["kms.key_month"].amount == Decimal("2.00")
        assert (lines["kms.rotation_month"].amount if rotations else Decimal(0)) == Decimal(rotations)


def test_asymmetric_calls_are_priced_apart_and_need_an_asymmetric_key():
    usage = Usage("prod", MONTH_S)
    usage.calls.update({"kms.Sign": 100_000, "kms.Decrypt": 50_000})
    profile = copy.deepcopy(PROFILE)
    profile["kms"].update(table_key_requests=0, log_group_key_requests=0)
    signing = record("aws:kms/key:Key", "signing", customerMasterKeySpec="ECC_NIST_P256")
    lines = {line.price: line for line in keys(context(signing, usage=usage, profile=profile))}
    assert lines["kms.asymmetric_request"].quantity == 100_000
    assert lines["kms.asymmetric_request"].amount == Decimal("1.50")   # 100,000 x $0.15 / 10,000
    assert lines["kms.symmetric_request"].amount == Decimal("0.15")    # 50,000 x $0.03 / 10,000
    with pytest.raises(ProfileError, match="no asymmetric key"):
        keys(context(record("aws:kms/key:Key", "data"), usage=usage, profile=profile))


def test_write_units_count_each_index_an_item_carries_and_transactions_twice():
    usage = Usage("prod", MONTH_S)
    usage.calls.update({"dynamodb.UpdateItem:profile": 1000, "dynamodb.TransactWriteItems:identity": 1000,
                        "dynamodb.GetItem": 4000})
    c = context(record("aws:dynamodb/table:Table", "table", name="serenya-prod", billingMode="PAY_PER_REQUEST",
                       globalSecondaryIndexes=[{"name": "GSI1"}, {"name": "GSI2"}]), usage=usage)
    lines = {line.price: line for line in table(c)}
    # profile items (1.5 KB -> 2 units) with both indexes: 2 x 3; identity (0.3 KB) in a transaction: 1 x 2
    assert lines["dynamodb.write_request_unit"].quantity == 1000 * 6 + 1000 * 2
    assert lines["dynamodb.read_request_unit"].quantity == 4000
    assert "dynamodb.pitr_gb_month" not in lines


def test_log_storage_is_a_month_of_ingestion_compressed_kept_for_its_retention():
    usage = Usage("prod", MONTH_S)
    usage.log_bytes["/aws/lambda/serenya-prod-auth"] = 30 * 1024 ** 3
    c = context(record("aws:cloudwatch/logGroup:LogGroup", "auth", name="/aws/lambda/serenya-prod-auth",
                       retentionInDays=7), usage=usage)
    ingest, storage, insights = log_groups(c)
    assert ingest.quantity == 30 and ingest.amount == Decimal("17.10")            # 30 GB x $0.57
    assert storage.quantity == pytest.approx(30 * 0.15 * 7 / (730 / 24))
    assert insights.quantity == pytest.approx(100 * 30 / (730 / 24))               # 100 queries, a day each


@pytest.mark.parametrize("expression, runs", [
    ("cron(30 1 * * ? *)", 730 / 24),
    ("cron(0 0,12 * * ? *)", 2 * 730 / 24),
    ("rate(5 minutes)", 730 * 12),
    ("rate(1 day)", 730 / 24),
])
def test_schedules_fire_so_often_in_a_730_hour_month(expression, runs):
    assert runs_per_month(expression) == pytest.approx(runs)


@pytest.mark.parametrize("expression", ["cron(0 12 1 * ? *)", "cron(0/5 * * * ? *)", "at(2026-01-01T00:00:00)"])
def test_a_schedule_the_model_cannot_count_is_refused(expression):
    with pytest.raises(ValueError):
        runs_per_month(expression)


def test_xray_keeps_the_first_request_of_each_second_and_five_percent_of_the_rest():
    assert poisson_sampled_share(0, 1, 0.05) == 0
    # one request a second on average: E[min(N, 1)] = 1 - e^-1, plus 5% of the rest
    first = 1 - math.exp(-1)
    assert poisson_sampled_share(1.0, 1, 0.05) == pytest.approx(first + 0.05 * (1 - first))
    assert poisson_sampled_share(1e-6, 1, 0.05) == pytest.approx(1, abs=1e-6)
    assert poisson_sampled_share(1000, 1, 0.05) == pytest.approx(0.05 + 0.95 / 1000, rel=1e-3)


def test_a_metric_with_a_breakdown_is_billed_for_its_totals_and_each_combination():
    c = context(record("aws:lambda/function:Function", "auth", name="serenya-prod-auth"))
    streams, months = custom_metric_months(c)
    values = PROFILE["metrics"]["values"]
    # auth: Registrations(provider), SignIns(provider, flow), SignInFailures(provider, reason), UnhandledErrors
    assert streams == (1 + values["provider"]) + (1 + values["provider"] * values["flow"]) \
        + (1 + values["provider"] * values["reason"]) + 1
    share = PROFILE["metrics"]["hours_share"]
    assert months == pytest.approx((1 + 2) * share["Registrations"] + (1 + 4) * 1.0
                                   + (1 + 6) * share["SignInFailures"] + 1 * share["UnhandledErrors"])


# -- usage derived from the resources ---------------------------------------------------------

def _api_body(ttl: int) -> str:
    import json

    def op(fn, secured=True):
        uri = (f"arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:1:"
               f"function:serenya-prod-{fn}/invocations")
        return {"x-amazon-apigateway-integration": {"uri": uri}, **({"security": [{"t": []}]} if secured else {})}
    authorizer = {"authorizerUri": "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:"
                                   "eu-west-1:1:function:serenya-prod-authorizer:live/invocations",
                  "authorizerResultTtlInSeconds": ttl}
    return json.dumps({"paths": {"/api/v1/a": {"get": op("a"), "options": op("a", False)},
                                 "/api/v1/login": {"post": op("a", False)}},
                       "components": {"securitySchemes": {"t": {"x-amazon-apigateway-authorizer": authorizer}}}})


def _small_stack(ttl: int = 300, window: float = 5, batch: int = 100, filters=()) -> Graph:
    fn = lambda n: record("aws:lambda/function:Function", n, name=f"serenya-prod-{n}", memorySize=256)
    return Graph("prod", "eu-west-1", (
        fn("a"), fn("authorizer"), fn("stream"),
        record("aws:apigateway/restApi:RestApi", "api", body=_api_body(ttl)),
        record("aws:dynamodb/table:Table", "t", name="serenya-prod", streamEnabled=True),
        record("aws:lambda/eventSourceMapping:EventSourceMapping", "esm", batchSize=batch,
               maximumBatchingWindowInSeconds=window,
               filterCriteria={"filters": [{"pattern": json.dumps(p)} for p in filters]},
               functionName="arn:aws:lambda:eu-west-1:1:function:serenya-prod-stream"),
    ))


def _small_profile(**routes) -> dict:
    profile = copy.deepcopy(PROFILE)
    profile["routes"] = {"GET /api/v1/a": {"requests": routes.get("a", 1000), "duration_ms": 100},
                         "POST /api/v1/login": {"requests": routes.get("login", 2_628_000), "duration_ms": 10,
                                                "calls": {"dynamodb.UpdateItem:profile": 1}}}
    profile.update(sessions=100, session_seconds=240)
    return profile


@pytest.mark.parametrize("ttl, expected", [(300, 100), (60, 400), (0, 1000)])
def test_the_authorizer_runs_once_per_session_and_cache_period(ttl, expected):
    usage = derive(_small_stack(ttl), _small_profile(), MONTH_S)
    assert usage.authorized_requests == 1000          # the login route is not authorized; OPTIONS is not counted
    assert usage.authorizer_invocations == expected   # 100 sessions of 240 s


@pytest.mark.parametrize("window, batch, per_batch", [(5, 100, 6), (5, 3, 3), (0, 100, 1)])
def test_stream_batches_hold_what_arrives_within_the_window(window, batch, per_batch):
    # one write a second: a 5 s window gathers the first record and 5 more
    usage = derive(_small_stack(window=window, batch=batch), _small_profile(), MONTH_S)
    assert usage.stream_records == 2_628_000
    assert usage.stream_batches == pytest.approx(2_628_000 / per_batch)
    assert usage.functions["stream"].invocations == pytest.approx(2_628_000 / per_batch)


def test_ttl_expiries_reach_the_stream_function_unless_the_mappings_filter_drops_them():
    from components.processing import STREAM_FILTERS

    profile = _small_profile(login=1_314_000)  # one write every 2 s, and as many usage records that expire
    profile["routes"]["GET /api/v1/a"].update(requests=1_314_000, calls={"dynamodb.PutItem:usage": 1})
    unfiltered = derive(_small_stack(window=0), profile, MONTH_S)
    assert unfiltered.ttl_deletions == 1_314_000 and unfiltered.ttl_deletions_filtered == 0
    assert unfiltered.stream_records == 3 * 1_314_000  # writes and expiries
    filtered = derive(_small_stack(window=0, filters=STREAM_FILTERS), profile, MONTH_S)
    assert filtered.ttl_deletions_filtered == 1_314_000 and filtered.stream_records == 2 * 1_314_000
    assert unfiltered.functions["stream"].invocations - filtered.functions["stream"].invocations == 1_314_000


def test_a_route_without_usage_stops_the_model_naming_it():
    profile = _small_profile()
    del profile["routes"]["GET /api/v1/a"]
    with pytest.raises(ProfileError, match=r"GET /api/v1/a"):
        derive(_small_stack(), profile, MONTH_S)


def test_a_function_nothing_invokes_stops_the_model_naming_it():
    graph = _small_stack()
    graph = Graph("prod", "eu-west-1", graph.resources + (
        record("aws:lambda/function:Function", "orphan", name="serenya-prod-orphan"),))
    with pytest.raises(ProfileError, match="orphan"):
        derive(graph, _small_profile(), MONTH_S)
