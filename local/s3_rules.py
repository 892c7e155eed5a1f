"""Request rules S3 enforces and moto does not, checked on the SDK's side (botocore
`before-call`) so that the local stack and the function tests refuse what S3 refuses.

- A KMS key id (x-amz-server-side-encryption-aws-kms-key-id) is only accepted together
  with x-amz-server-side-encryption: aws:kms (or aws:kms:dsse); alone, S3 answers 400
  InvalidArgument "Server Side Encryption with AWS KMS managed key requires HTTP header
  x-amz-server-side-encryption : aws:kms" (moto stores the object).
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html (SSEKMSKeyId: "If you
  specify x-amz-server-side-encryption with aws:kms or aws:kms:dsse, this header specifies
  the ID ... of the KMS key"); the error as S3 returns it: https://github.com/aws/aws-cli/issues/1431
"""

from __future__ import annotations

from typing import Optional

from botocore.awsrequest import AWSResponse

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
# The operations that take SSEKMSKeyId with ServerSideEncryption.
_WRITES = ("PutObject", "CopyObject", "CreateMultipartUpload")
MISSING_SSE_KMS = "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"


def violation(operation: str, params: dict) -> Optional[str]:
    """S3's message for a request it would refuse with InvalidArgument, or None."""
    if operation in _WRITES and params.get("SSEKMSKeyId") and params.get("ServerSideEncryption") not in KMS_ALGORITHMS:
        return MISSING_SSE_KMS
    return None


def _before_call(model, params, **_):
    message = violation(model.name, _api_params(params))
    if message is None:
        return None
    error = {"Code": "InvalidArgument", "Message": message}
    return (AWSResponse("https://s3.amazonaws.com", 400, {}, None),
            {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}, "RequestId": "local-s3-rules",
                                                  "RetryAttempts": 0}})


def _api_params(request_dict: dict) -> dict:
    """The encryption parameters back from the serialized request's headers (S3 sends
    them as headers on every write that takes them)."""
    headers = {k.lower(): v for k, v in (request_dict.get("headers") or {}).items()}
    return {"SSEKMSKeyId": headers.get("x-amz-server-side-encryption-aws-kms-key-id"),
            "ServerSideEncryption": headers.get("x-amz-server-side-encryption")}


def attach(events) -> None:
    """Applies the rules to every S3 call made through `events` (a session's or client's)."""
    events.register_first("before-call.s3", _before_call)


def detach(events) -> None:
    events.unregister("before-call.s3", _before_call)
