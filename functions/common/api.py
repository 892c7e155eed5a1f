"""The wrapper every API function's `handler` uses: logging context with the API
request id as correlation id, tracing without responses, metrics flushed."""

from aws_lambda_powertools.logging import correlation_paths

from functions.common.observability import logger, metrics, tracer


def api_handler(app):
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handler(event, context):
        return app.resolve(event, context)

    return handler
