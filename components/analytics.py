"""AnalyticsLayer: the Glue table of audit events, the Athena workgroup, named queries.

The table's columns are generated from the pyarrow schema the stream processor writes
with (analytics/schema.py), and its partitions are projected from `event_date`: no
crawler, no MSCK REPAIR. The workgroup enforces its settings: engine v3, results
encrypted with the storage key in the results bucket, a bytes-scanned cutoff per query.
A second, small table, `product_prices`, holds the stack's list prices (config
`serenya:listPrices`) as one JSON-lines object the program writes: the revenue query
falls back on it where a store sent no price.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from analytics import schema
from analytics_queries import load, prices
from components.config import Settings
from components.storage import StorageLayer

TABLE = "audit_events"
PROJECTION_START = "2026-01-01"
BYTES_SCANNED_CUTOFF = 10 * 1024**3  # 10 GiB per query


def table_parameters(bucket: str) -> dict[str, str]:
    return {
        "classification": "parquet",
        "parquet.compression": "ZSTD",
        "projection.enabled": "true",
        "projection.event_date.type": "date",
        "projection.event_date.format": "yyyy-MM-dd",
        "projection.event_date.range": f"{PROJECTION_START},NOW",
        "projection.event_date.interval": "1",
        "projection.event_date.interval.unit": "DAYS",
        "storage.location.template": f"s3://{bucket}/audit/event_date=${{event_date}}/",
    }


@dataclass(frozen=True)
class AnalyticsArgs:
    settings: Settings
    storage: StorageLayer


class AnalyticsLayer(pulumi.ComponentResource):
    def __init__(self, name: str, args: AnalyticsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("serenya:analytics:AnalyticsLayer", name, None, opts)
        s, storage = args.settings, args.storage
        child = pulumi.ResourceOptions(parent=self)
        database_name = s.name().replace("-", "_")  # Glue and Athena names take underscores

        self.database = aws.glue.CatalogDatabase(
            f"{name}-audit",
            name=database_name,
            description="Serenya audit events (no PHI, no plaintext PII)",
            opts=child,
        )
        bucket = storage.events_bucket.name
        # The schema's columns (analytics/ stays free of Pulumi) in the provider's shape.
        columns: list[aws.glue.CatalogTableStorageDescriptorColumnArgsDict] = [
            {"name": c["name"], "type": c["type"], "comment": c["comment"]} for c in schema.glue_columns()
        ]
        self.table = aws.glue.CatalogTable(
            f"{name}-audit-events",
            name=TABLE,
            database_name=self.database.name,
            description="One row per audit event; query through the deduplicating pattern of the named queries",
            table_type="EXTERNAL_TABLE",
            parameters=bucket.apply(table_parameters),
            partition_keys=[{"name": schema.PARTITION, "type": "string", "comment": schema.PARTITION_DESCRIPTION}],
            storage_descriptor={
                "location": bucket.apply(lambda b: f"s3://{b}/audit/"),
                "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "ser_de_info": {"serialization_library": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
                "columns": columns,
            },
            opts=child,
        )

        list_prices = s.stores.list_prices if s.stores else ()
        commission = s.stores.commission_percent if s.stores else None
        self.prices_object = aws.s3.BucketObjectv2(
            f"{name}-product-prices",
            bucket=bucket,
            key=prices.KEY,
            content=prices.json_lines(list_prices, commission),
            content_type="application/x-ndjson",
            server_side_encryption="aws:kms",
            kms_key_id=storage.data_key.arn,
            opts=child,
        )
        self.prices_table = aws.glue.CatalogTable(
            f"{name}-product-prices",
            name=prices.TABLE,
            database_name=self.database.name,
            description="List price per premium product, from stack config (serenya:listPrices)",
            table_type="EXTERNAL_TABLE",
            parameters={"classification": "json"},
            storage_descriptor={
                "location": bucket.apply(lambda b: f"s3://{b}/{prices.PREFIX}"),
                "input_format": "org.apache.hadoop.mapred.TextInputFormat",
                "output_format": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "ser_de_info": {"serialization_library": "org.openx.data.jsonserde.JsonSerDe"},
                "columns": [{"name": n, "type": t} for n, t in prices.GLUE_TYPES.items()],
            },
            opts=child,
        )

        self.workgroup = aws.athena.Workgroup(
            f"{name}-analysts",
            name=s.name("analysts"),
            description="Audit analytics: enforced settings, encrypted results, per-query scan cutoff",
            force_destroy=not s.deletion_protection,
            configuration={
                "enforce_workgroup_configuration": True,
                "publish_cloudwatch_metrics_enabled": True,
                "bytes_scanned_cutoff_per_query": BYTES_SCANNED_CUTOFF,
                "engine_version": {"selected_engine_version": "Athena engine version 3"},
                "result_configuration": {
                    "output_location": storage.athena_results_bucket.name.apply(lambda b: f"s3://{b}/results/"),
                    "encryption_configuration": {"encryption_option": "SSE_KMS", "kms_key_arn": storage.data_key.arn},
                },
            },
            opts=child,
        )

        self.named_queries = [
            aws.athena.NamedQuery(
                f"{name}-{query.name}",
                name=query.name,
                description=query.description[:1024],
                database=self.database.name,
                workgroup=self.workgroup.name,
                query=query.sql,
                opts=child,
            )
            for query in load()
        ]
        self.register_outputs({"database": self.database.name, "workgroup": self.workgroup.name})
