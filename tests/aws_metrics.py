"""The metrics AWS documents per CloudWatch namespace, with the dimension combinations each
is published with. Data only: tests/components/test_aws_metric_names.py checks every alarm
and dashboard metric of the AWS namespaces against it.

Each namespace names the page it is taken from. `dimensions` lists the combinations the
page documents for the namespace; a metric with its own tuple of combinations (instead of
None) is published with those only. Add a metric here only from its AWS page.
"""

ANY = None  # the metric is published with every combination of its namespace

NAMESPACES = {
    "AWS/Lambda": {
        "url": "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html",
        "dimensions": (frozenset(), frozenset({"FunctionName"}), frozenset({"FunctionName", "Resource"}),
                       frozenset({"FunctionName", "Resource", "ExecutedVersion"})),
        "metrics": {
            # Invocation metrics
            "Invocations": ANY, "Errors": ANY, "DeadLetterErrors": ANY, "DestinationDeliveryFailures": ANY,
            "Throttles": ANY, "OversizedRecordCount": ANY, "ProvisionedConcurrencyInvocations": ANY,
            "ProvisionedConcurrencySpilloverInvocations": ANY, "RecursiveInvocationsDropped": ANY,
            # Performance metrics
            "Duration": ANY, "PostRuntimeExtensionsDuration": ANY, "IteratorAge": ANY,
            "OffsetLag": ANY,
            # Concurrency metrics
            "ConcurrentExecutions": ANY, "ProvisionedConcurrentExecutions": ANY,
            "ProvisionedConcurrencyUtilization": ANY,
            "UnreservedConcurrentExecutions": (frozenset(),),
            "ClaimedAccountConcurrency": (frozenset(),),
            # Asynchronous invocation metrics
            "AsyncEventsReceived": ANY, "AsyncEventAge": ANY, "AsyncEventsDropped": ANY,
        },
    },
    "AWS/ApiGateway": {
        # REST APIs
        "url": "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html",
        "dimensions": (frozenset({"ApiName"}), frozenset({"ApiName", "Stage"}),
                       frozenset({"ApiName", "Method", "Resource", "Stage"})),
        "metrics": {"4XXError": ANY, "5XXError": ANY, "CacheHitCount": ANY, "CacheMissCount": ANY, "Count": ANY,
                    "IntegrationLatency": ANY, "Latency": ANY},
    },
    "AWS/DynamoDB": {
        "url": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html",
        "dimensions": (frozenset({"TableName"}), frozenset({"TableName", "GlobalSecondaryIndexName"}),
                       frozenset({"TableName", "Operation"}), frozenset({"TableName", "StreamLabel"}),
                       frozenset({"TableName", "ReceivingRegion"})),
        "metrics": {
            "ConditionalCheckFailedRequests": (frozenset({"TableName"}),),
            "ConsumedReadCapacityUnits": (frozenset({"TableName"}), frozenset({"TableName", "GlobalSecondaryIndexName"})),
            "ConsumedWriteCapacityUnits": (frozenset({"TableName"}), frozenset({"TableName", "GlobalSecondaryIndexName"})),
            "ProvisionedReadCapacityUnits": (frozenset({"TableName"}), frozenset({"TableName", "GlobalSecondaryIndexName"})),
            "ProvisionedWriteCapacityUnits": (frozenset({"TableName"}), frozenset({"TableName", "GlobalSecondaryIndexName"})),
            "ReadThrottleEvents": (frozenset({"TableName"}), frozenset({"TableName", "GlobalSecondaryIndexName"})),
            "WriteThrottleEvents": (frozenset({"TableName"}), frozenset({"TableName", "GlobalSecondaryIndexName"})),
            "ThrottledRequests": (frozenset({"TableName", "Operation"}),),
            "ReturnedItemCount": (frozenset({"TableName", "Operation"}),),
            "ReturnedBytes": (frozenset({"TableName", "Operation"}),),
            "ReturnedRecordsCount": (frozenset({"TableName", "Operation"}), frozenset({"TableName", "StreamLabel"})),
            "SuccessfulRequestLatency": (frozenset({"TableName", "Operation"}),),
            "SystemErrors": (frozenset({"TableName", "Operation"}),),
            "TransactionConflict": (frozenset({"TableName"}),),
            "TimeToLiveDeletedItemCount": (frozenset({"TableName"}),),
            "ReplicationLatency": (frozenset({"TableName", "ReceivingRegion"}),),
            "AccountProvisionedReadCapacityUtilization": (frozenset(),),
            "AccountProvisionedWriteCapacityUtilization": (frozenset(),),
            # "UserErrors ... Dimensions: None" (one count per account and region).
            "UserErrors": (frozenset(),),
        },
    },
    "AWS/S3": {
        # Daily storage metrics (request metrics need a metrics configuration, which the stacks do not make).
        "url": "https://docs.aws.amazon.com/AmazonS3/latest/userguide/metrics-dimensions.html",
        "dimensions": (frozenset({"BucketName", "StorageType"}),),
        "metrics": {"BucketSizeBytes": ANY, "NumberOfObjects": ANY},
    },
    "AWS/SQS": {
        "url": "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html",
        "dimensions": (frozenset({"QueueName"}),),
        "metrics": {"ApproximateAgeOfOldestMessage": ANY, "ApproximateNumberOfMessagesDelayed": ANY,
                    "ApproximateNumberOfMessagesNotVisible": ANY, "ApproximateNumberOfMessagesVisible": ANY,
                    "NumberOfEmptyReceives": ANY, "NumberOfDeduplicatedSentMessages": ANY,
                    "NumberOfMessagesDeleted": ANY, "NumberOfMessagesReceived": ANY, "NumberOfMessagesSent": ANY,
                    "SentMessageSize": ANY},
    },
    "AWS/SNS": {
        "url": "https://docs.aws.amazon.com/sns/latest/dg/sns-monitoring-using-cloudwatch.html",
        "dimensions": (frozenset({"TopicName"}), frozenset({"Application"}), frozenset({"Application", "Platform"}),
                       frozenset({"Country"}), frozenset({"SMSType"})),
        "metrics": {"NumberOfMessagesPublished": ANY, "NumberOfNotificationsDelivered": ANY,
                    "NumberOfNotificationsFailed": ANY, "NumberOfNotificationsFilteredOut": ANY,
                    "NumberOfNotificationsFilteredOut-MessageAttributes": ANY,
                    "NumberOfNotificationsFilteredOut-MessageBody": ANY,
                    "NumberOfNotificationsFilteredOut-InvalidAttributes": ANY,
                    "NumberOfNotificationsFilteredOut-NoMessageAttributes": ANY,
                    "NumberOfNotificationsFilteredOut-InvalidMessageBody": ANY,
                    "NumberOfNotificationsRedrivenToDlq": ANY, "NumberOfNotificationsFailedToRedriveToDlq": ANY,
                    "PublishSize": ANY, "SMSMonthToDateSpentUSD": ANY, "SMSSuccessRate": ANY},
    },
    "AWS/Bedrock": {
        "url": "https://docs.aws.amazon.com/bedrock/latest/userguide/monitoring-runtime-metrics.html",
        "dimensions": (frozenset({"ModelId"}),),
        "metrics": {"Invocations": ANY, "InvocationLatency": ANY, "InvocationClientErrors": ANY,
                    "InvocationServerErrors": ANY, "InvocationThrottles": ANY, "InputTokenCount": ANY,
                    "OutputTokenCount": ANY, "LegacyModelInvocations": ANY, "OutputImageCount": ANY},
    },
    "AWS/Usage": {
        # KMS publishes its API request counts here: Service KMS, Type API, Class None, Resource the shared
        # quota (CryptographicOperationsSymmetric, ...Ecc, ...Rsa) or, outside one, the operation.
        "url": "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Usage-Metrics.html",
        "also": "https://docs.aws.amazon.com/kms/latest/developerguide/monitoring-cloudwatch.html",
        "dimensions": (frozenset({"Service", "Type", "Resource", "Class"}),),
        "metrics": {"CallCount": ANY, "ResourceCount": ANY},
    },
    "AWS/Logs": {
        # Published per log group; the local stack counts EMF documents it cannot turn into metrics.
        "url": "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CloudWatch-Logs-Monitoring-CloudWatch-Metrics.html",
        "dimensions": (frozenset({"LogGroupName"}),),
        "metrics": {"IncomingBytes": ANY, "IncomingLogEvents": ANY, "EMFValidationErrors": ANY,
                    "EMFParsingErrors": ANY},
    },
    "AWS/WAFV2": {
        # Web ACLs for CloudFront publish in us-east-1 without the Region dimension.
        "url": "https://docs.aws.amazon.com/waf/latest/developerguide/waf-metrics.html",
        "dimensions": (frozenset({"WebACL", "Rule"}), frozenset({"Region", "WebACL", "Rule"}),
                       frozenset({"WebACL", "RuleGroup", "Rule"}), frozenset({"Region", "WebACL", "RuleGroup", "Rule"}),
                       frozenset({"WebACL", "LabelNamespace", "Label"}),
                       frozenset({"Region", "WebACL", "LabelNamespace", "Label"})),
        "metrics": {"AllowedRequests": ANY, "BlockedRequests": ANY, "CountedRequests": ANY, "CaptchaRequests": ANY,
                    "RequestsWithValidCaptchaToken": ANY, "ChallengeRequests": ANY,
                    "RequestsWithValidChallengeToken": ANY, "PassedRequests": ANY},
    },
}


def problems(namespace: str, metric: str, dimensions) -> list[str]:
    """Why (namespace, metric, dimension names) is not a metric AWS publishes; empty if it is."""
    ns = NAMESPACES.get(namespace)
    if ns is None:
        return [f"{namespace}: not a namespace of this table"]
    if metric not in ns["metrics"]:
        return [f"{namespace} {metric}: not a documented metric ({ns['url']})"]
    allowed = ns["metrics"][metric] or ns["dimensions"]
    if frozenset(dimensions) not in allowed:
        return [f"{namespace} {metric}: dimensions {sorted(dimensions)} are not one of "
                f"{[sorted(d) for d in allowed]} ({ns['url']})"]
    return []
