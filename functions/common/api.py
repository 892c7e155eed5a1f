"""The `handler` of every API function: the REST resolver behind the shared decorator,
with the API request id as correlation id."""

from aws_lambda_powertools.logging import correlation_paths

from functions.common.observability import instrumented


def api_handler(app):
    @instrumented(correlation_paths.API_GATEWAY_REST)
    def handler(event, context):
        return app.resolve(event, context)

    return handler
