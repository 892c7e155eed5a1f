"""Request size limits, without the request models (common/requests.py, pydantic), so a
handler can refuse an oversized body before it loads them."""

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_CHAT_BYTES = 256 * 1024
UPLOAD_TYPES = ("application/pdf", "image/jpeg", "image/png")
