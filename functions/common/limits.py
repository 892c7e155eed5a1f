"""Request size limits, without the request models (common/requests.py, pydantic), so a
handler can refuse an oversized body before it loads them."""

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Bedrock refuses a document over 4.5 MB in a Converse request ("The maximum size of a
# document is 4.5 MB"): a PDF over it can never be analysed, so its ticket is refused.
# https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_DocumentBlock.html
MAX_PDF_BYTES = 4_500_000
# Bedrock's limit per image in a Converse request (ImageBlock: 3.75 MB); images.py
# prepares photos to fit it.
MAX_IMAGE_BYTES = 3_750_000
MAX_CHAT_BYTES = 256 * 1024
# Any other JSON body (sign-in, onboarding, upload tickets, profile updates) is a few KB:
# a larger one is refused before it is read, so nobody can spend the routes' latency
# objective (and page on-call) with megabytes of padding the parser would scan first.
MAX_BODY_BYTES = 64 * 1024
MAX_WEBHOOK_BYTES = 256 * 1024   # an App Store notification carries its certificate chain
# What fits the model's context, estimated before the call: Claude Haiku 4.5 reads 200,000
# tokens, less the reply (4,096) and the task's prompt and tool schema (~2,000). JSON of
# dates and numbers tokenises at about 2.5 bytes a token at worst, so a doctor report's
# results over MAX_REPORT_BYTES cannot fit (413 payload_too_large, before the body is
# parsed); a chat's 256 KiB (about 105,000 tokens at that rate) always does.
CONTEXT_TOKENS = 200_000
MAX_REPORT_BYTES = int((CONTEXT_TOKENS - 4_096 - 2_000) * 2.5)
UPLOAD_TYPES = ("application/pdf", "image/jpeg", "image/png")
