"""The `handler` of every API function: the REST resolver behind the shared decorator,
with the API request id as correlation id, and one log line per request.

Every line of a request carries `route` (the method and the resource template, never
the path with its job id) and `user_id` (the authorizer's opaque id, no name or email),
and the last one its `status_code`: the saved Logs Insights queries of the runbooks
(components/queries.py) find one user's requests and the errors of one request by them."""

from aws_lambda_powertools.logging import correlation_paths

from functions.common.observability import instrumented, logger


def api_handler(app):
    @instrumented(correlation_paths.API_GATEWAY_REST)
    def handler(event, context):
        authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
        logger.append_keys(
            route=f"{event.get('httpMethod', '')} {event.get('resource', '')}", user_id=authorizer.get("user_id")
        )  # None on public routes: not logged
        response = app.resolve(event, context)
        logger.info("request answered", extra={"status_code": response.get("statusCode")})
        return response

    return handler
