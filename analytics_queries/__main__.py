"""`python -m analytics_queries <query> <from_date> <to_date> [more parameters]`: a named query on
DuckDB over the audit events of a running local stack (or `--dir` with Parquet files).

    python -m analytics_queries --list
    python -m analytics_queries daily_registrations 2026-11-01 2026-11-30
    python -m analytics_queries user_timeline 2026-11-01 2026-11-30 <user id>
    python -m analytics_queries mrr_monthly 2026-11-01 2026-11-30 --format csv > mrr.csv
    python -m analytics_queries --sql "SELECT event_type, count(*) FROM audit_events GROUP BY 1" --format json

--sql runs one read-only statement (SELECT or WITH, Athena's dialect) against the same
tables, audit_events and product_prices; bound event_date there as in Athena.

user_timeline takes the app's user id while its account exists (the stack's table gives
its analytics id, the lake's only name for the person); `--analytics-id` passes one as is.

The stack is http://127.0.0.1:$PORT (default 8080, like `make run`); its events are
mirrored into build/audit-cache/<bucket>/, refreshed on each run. List prices (for
revenue_by_month) come from Pulumi.<--prices-stack>.yaml.
"""

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path

import boto3

from analytics_queries import load, local, prices


def store_terms(stack: str) -> tuple[prices.ListPrices, int | None]:
    """The stack's list prices and store commission (serenya:listPrices, serenya:storeCommission)."""
    from components.config import load_settings
    from local.program import stack_config

    config = stack_config(stack)
    stores = load_settings(config.get, stack).stores
    return (stores.list_prices, stores.commission_percent) if stores else ((), None)


def main(argv=None) -> int:
    queries = {q.name: q for q in load()}
    parser = argparse.ArgumentParser(
        prog="python -m analytics_queries", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("query", nargs="?", choices=sorted(queries))
    parser.add_argument("parameters", nargs="*")
    parser.add_argument("--list", action="store_true", help="list the named queries")
    parser.add_argument("--dir", type=Path, help="a folder holding audit/event_date=.../*.parquet")
    parser.add_argument(
        "--stack",
        default=f"http://127.0.0.1:{os.environ.get('PORT') or '8080'}",
        help="the local stack (make run); default from $PORT",
    )
    parser.add_argument(
        "--analytics-id", action="store_true", help="the query's analytics_id parameter is one, not a user id"
    )
    parser.add_argument(
        "--prices-stack", default="dev", help="the stack file whose serenya:listPrices and storeCommission to use"
    )
    parser.add_argument("--format", choices=local.FORMATS, default="table", help="how to print the rows")
    parser.add_argument("--sql", help="an ad-hoc read-only query (SELECT or WITH) on audit_events, product_prices")
    args = parser.parse_args(argv)
    if args.sql is not None:
        if args.query:
            parser.error("give a named query or --sql, not both")
        try:
            local.check_read_only(args.sql)
        except ValueError as e:
            parser.error(str(e))
    elif args.list or not args.query:
        for q in queries.values():
            print(f"{q.name}({', '.join(q.parameters)}): {q.description}")
        return 0
    else:
        query = queries[args.query]
        if len(args.parameters) != len(query.parameters):
            parser.error(f"{query.name} takes {', '.join(query.parameters)}")
        try:
            local.check_dates(*args.parameters[:2])
        except ValueError as e:
            parser.error(str(e))
    root, parameters = args.dir, list(args.parameters)
    resolve = args.sql is None and "analytics_id" in query.parameters and not args.analytics_id
    if root is None or resolve:
        with urllib.request.urlopen(f"{args.stack}/local/health", timeout=5) as response:
            health = json.loads(response.read())
        session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="eu-west-1")
        if resolve:
            at = query.parameters.index("analytics_id")
            dynamodb = session.client("dynamodb", endpoint_url=health["aws_endpoint_url"])
            try:
                parameters[at] = local.analytics_id_of(dynamodb, health["resources"]["table"], parameters[at])
            except local.NoAccount as e:
                print(e, file=sys.stderr)
                return 1
        if root is None:
            s3 = session.client("s3", endpoint_url=health["aws_endpoint_url"])
            root = local.download(s3, health["resources"]["events_bucket"])
    prices, commission = store_terms(args.prices_stack)
    try:
        if args.sql is not None:
            columns, rows = local.run_sql(args.sql, root, prices, commission)
        else:
            columns, rows = local.run(query, parameters, root, prices, commission)
    except ValueError as e:  # SQL the engine refused: the analyst's to fix, not a crash
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(local.render(columns, rows, args.format))
    if args.query == "user_timeline" and not rows:
        # An empty timeline is ambiguous: say which it is.
        print(local.unknown_user_note(parameters[2], root), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
