"""The AnalyticsLayer under Pulumi mocks: the Glue table is the writer's schema."""

import json

import pytest

from analytics import schema, writer
from analytics_queries import load, local, prices
from analytics_queries.docs import render
from local.program import ROOT


@pytest.fixture
def stack(stack_run):
    return stack_run


def test_glue_columns_are_the_parquet_schema(stack):
    table = stack.mocks.one("aws:glue/catalogTable:CatalogTable", "audit-events").inputs
    columns = [(c["name"], c["type"]) for c in table["storageDescriptor"]["columns"]]
    assert columns == [(f.name, schema.glue_type(f.type)) for f in schema.SCHEMA]
    assert [p["name"] for p in table["partitionKeys"]] == [schema.PARTITION]
    assert table["storageDescriptor"]["serDeInfo"]["serializationLibrary"].endswith("ParquetHiveSerDe")


def test_partitions_are_projected_where_the_writer_writes(stack):
    table = stack.mocks.one("aws:glue/catalogTable:CatalogTable", "audit-events").inputs
    parameters, bucket = table["parameters"], stack.outputs["events_bucket"]
    assert parameters["projection.enabled"] == "true" and parameters["projection.event_date.type"] == "date"
    assert parameters["projection.event_date.format"] == "yyyy-MM-dd"
    template = parameters["storage.location.template"]
    assert template == f"s3://{bucket}/{writer.partition_prefix('${event_date}')}"
    assert table["storageDescriptor"]["location"] == f"s3://{bucket}/{writer.PREFIX}"
    assert table["databaseName"] == f"serenya_{stack.settings.env}"


def test_workgroup_is_enforced_encrypted_and_capped(stack):
    config = stack.mocks.one("aws:athena/workgroup:Workgroup").inputs["configuration"]
    assert config["enforceWorkgroupConfiguration"] is True and config["publishCloudwatchMetricsEnabled"] is True
    assert config["engineVersion"]["selectedEngineVersion"] == "Athena engine version 3"
    assert 0 < config["bytesScannedCutoffPerQuery"] <= 100 * 1024 ** 3
    result = config["resultConfiguration"]
    assert result["outputLocation"].startswith(f"s3://{stack.outputs['athena_results_bucket']}/")
    assert result["encryptionConfiguration"] == {"encryptionOption": "SSE_KMS",
                                                 "kmsKeyArn": stack.outputs["data_key_arn"]}


def test_every_sql_file_is_a_named_query(stack):
    deployed = {q.inputs["name"]: q.inputs for q in stack.mocks.of_type("aws:athena/namedQuery:NamedQuery")}
    assert set(deployed) == {q.name for q in load()}
    for query in load():
        assert deployed[query.name]["query"] == query.sql
        assert deployed[query.name]["database"] == f"serenya_{stack.settings.env}"


def test_stream_processor_is_wired_with_its_packages(stack):
    function = stack.mocks.one("aws:lambda/function:Function", endswith="-stream_processor").inputs
    assert len(function["layers"]) == 3  # Powertools, shared dependencies, pyarrow
    mapping = stack.mocks.one("aws:lambda/eventSourceMapping:EventSourceMapping").inputs
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"] and mapping["bisectBatchOnFunctionError"]
    assert stack.mocks.one("aws:cloudwatch/eventRule:EventRule", endswith="-compaction-schedule").inputs[
        "scheduleExpression"] == "cron(30 1 * * ? *)"


def test_docs_audit_events_md_is_up_to_date():
    """Regenerate with `make audit-docs`."""
    assert (ROOT / "docs" / "audit-events.md").read_text() == render()


def test_list_prices_are_a_small_json_table_beside_the_events(stack):
    """`product_prices` (for revenue_by_month): one JSON-lines object generated from
    serenya:listPrices, encrypted like the events, under a Glue table Athena reads with the
    OpenX JSON SerDe; the same rows the local runner registers."""
    obj = stack.mocks.one("aws:s3/bucketObjectv2:BucketObjectv2", "product-prices").inputs
    bucket = stack.outputs["events_bucket"]
    assert (obj["bucket"], obj["key"]) == (bucket, prices.KEY) and not obj["key"].startswith(writer.PREFIX)
    assert obj["serverSideEncryption"] == "aws:kms" and obj["kmsKeyId"] == stack.outputs["data_key_arn"]
    rows = [json.loads(line) for line in obj["content"].splitlines()]
    stores = stack.settings.stores
    # every row carries the stores' commission (serenya:storeCommission), for mrr_monthly's net revenue
    assert rows == prices.rows(stores.list_prices, stores.commission_percent) == [
        {"product_id": "health.serenya.premium.monthly", "price_milli": 9990, "currency": "EUR",
         "commission_percent": 15, "period_months": 1},
        {"product_id": "health.serenya.premium.yearly", "price_milli": 89990, "currency": "EUR",
         "commission_percent": 15, "period_months": 12}]
    table = stack.mocks.one("aws:glue/catalogTable:CatalogTable", "product-prices").inputs
    assert table["name"] == prices.TABLE and table["databaseName"] == f"serenya_{stack.settings.env}"
    assert table["storageDescriptor"]["location"] == f"s3://{bucket}/{prices.PREFIX}"
    assert table["storageDescriptor"]["serDeInfo"]["serializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert [(c["name"], c["type"]) for c in table["storageDescriptor"]["columns"]] == [
        ("product_id", "string"), ("price_milli", "bigint"), ("currency", "string"), ("commission_percent", "int"),
        ("period_months", "int")]
    connection = local.connect(ROOT / "no-such-folder", stores.list_prices, stores.commission_percent)
    assert connection.execute("SELECT * FROM product_prices ORDER BY product_id").fetchall() == [
        (r["product_id"], r["price_milli"], r["currency"], r["commission_percent"], r["period_months"]) for r in rows]
