"""Request size limits, without the request models (common/requests.py, pydantic), so a
handler can refuse an oversized body before it loads them."""

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Bedrock refuses a document over 4.5 MB in a Converse request ("The maximum size of a
# document is 4.5 MB"): a PDF over it can never be analysed, so its ticket is refused.
# https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_DocumentBlock.html
MAX_PDF_BYTES = 4_500_000
MAX_CHAT_BYTES = 256 * 1024
UPLOAD_TYPES = ("application/pdf", "image/jpeg", "image/png")
