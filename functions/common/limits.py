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
MAX_WEBHOOK_BYTES = 256 * 1024  # an App Store notification carries its certificate chain
# What fits the model's context, estimated before the call from the text the model will
# read (characters, not bytes: the prompt is UTF-8 text, and a body's size says little
# about its tokens - 240 KB of emoji are three times the tokens of 240 KB of JSON).
# Claude Haiku 4.5 reads 200,000 tokens, less the reply (4,096) and the task's prompt and
# tool schema (~2,000).
CONTEXT_TOKENS = 200_000
MAX_REPORT_TOKENS = CONTEXT_TOKENS - 4_096 - 2_000
# A chat's budget: well inside the context, and the cost model's worst chat (cost/abuse.py).
MAX_CHAT_TOKENS = 100_000
# The pessimistic ends of how Claude's tokenizer reads text: JSON of dates and numbers at
# 2.5 ASCII characters a token, a CJK or accented character up to 1.5 tokens, a character
# beyond the BMP (emoji) up to 3.
ASCII_CHARS_PER_TOKEN = 2.5
BMP_TOKENS, ASTRAL_TOKENS = 1.5, 3
# A report body over this many bytes cannot fit whatever it holds (ASCII is the most
# bytes per estimated token): refused before it is parsed.
MAX_REPORT_BYTES = int(MAX_REPORT_TOKENS * ASCII_CHARS_PER_TOKEN)


def estimated_tokens(text: str) -> int:
    """An upper estimate of the tokens Claude reads in `text` (one linear pass)."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    astral = len(text.encode("utf-16-le", "surrogatepass")) // 2 - len(text)  # two UTF-16 units each
    bmp = len(text) - ascii_chars - astral
    return int(ascii_chars / ASCII_CHARS_PER_TOKEN + BMP_TOKENS * bmp + ASTRAL_TOKENS * astral) + 1


UPLOAD_TYPES = ("application/pdf", "image/jpeg", "image/png")
