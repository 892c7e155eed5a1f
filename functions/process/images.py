"""Photos and screenshots of lab reports, made ready for the model.

A phone photo as uploaded (12 MP, about 6 MB of JPEG) is refused by Bedrock: Converse
takes images of at most 3.75 MB and 8000 x 8000 px
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Message.html), and
Claude scales down anything over 1568 px on the long edge or about 1,600 tokens
(width x height / 750) itself, which only adds latency: Anthropic recommends sending at
most 1.15 megapixels and 1568 px a side (https://docs.claude.com/en/docs/vision). So,
before the Converse call, `prepare`:

1. opens the file as the declared format only (a PNG declared as JPEG is refused), and
   refuses more than MAX_INPUT_PIXELS from the header, before any pixel is decoded;
2. decodes JPEGs at a reduced scale with `draft()` (libjpeg's DCT scaling: 1/2, 1/4 or
   1/8, never below the target), so a 12 MP photo never exists in memory at full size
   (https://pillow.readthedocs.io/en/stable/reference/Image.html#PIL.Image.Image.draft);
3. turns it upright from its EXIF orientation
   (https://pillow.readthedocs.io/en/stable/reference/ImageOps.html#PIL.ImageOps.exif_transpose);
4. flattens transparency onto white and scales it to at most 1568 px and 1.15 MP;
5. re-encodes it from the pixels alone, so no metadata leaves: no EXIF (GPS position,
   device, time), XMP, comments or ICC profile. JPEG; for a PNG (screenshots), PNG when
   that is smaller. Always under 3.75 MB (lower JPEG quality if ever needed).

Anything Pillow cannot decode (truncated, another format, a decompression bomb, a
broken header) is `unsupported_document`. This module imports Pillow; tasks.py imports
it on the image path only, so cold starts and PDF jobs never load Pillow.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from functions.common.limits import MAX_IMAGE_BYTES
from functions.process.providers import InputError

MAX_LONG_EDGE = 1568  # px, Claude's own limit before it resizes
MAX_MODEL_PIXELS = 1_150_000  # about 1,533 tokens: under Claude's ~1,600-token resize threshold
MAX_BYTES = MAX_IMAGE_BYTES  # Bedrock's limit per image (5 MB once base64-encoded)
# Pixels allowed in a file before decoding anything. Pillow's own default is about
# 89 MP (it warns there and refuses at twice that); phones take at most 48-50 MP
# (8160 x 6120 = 49.9 MP). A 50 MP RGBA PNG is 200 MB decoded, which the process
# function's 1024 MB hold; JPEGs are decoded at a reduced scale anyway.
MAX_INPUT_PIXELS = 50_000_000
JPEG_QUALITIES = (85, 75, 60, 45)
TOKEN_DIVISOR = 750  # Claude's tokens per image ~ width x height / 750

# Declared format -> the one Pillow decoder tried for it (JPEGs with a multi-picture
# index, as some phones write, open as MPO, a JPEG subtype, through the JPEG decoder).
_PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG"}
_EXIF_MAKE, _EXIF_MODEL = 0x010F, 0x0110  # TIFF/EXIF tags a camera writes (Exif 2.32, 4.6.4)
# What Pillow raises on malformed input (UnidentifiedImageError and "image file is
# truncated" are OSErrors); DecompressionBombWarning is made an error below.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    ZeroDivisionError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


@dataclass(frozen=True)
class Prepared:
    data: bytes
    format: str  # "jpeg" | "png": Converse's ImageBlock format
    size: tuple[int, int]  # what the model gets, upright
    source_size: tuple[int, int]  # as stored in the upload (before orientation)
    camera: bool = False  # EXIF names a camera (Make or Model): a photo even as PNG


def tokens(size: tuple[int, int]) -> int:
    """Claude's approximate input tokens for an image of this size (docs above)."""
    return round(size[0] * size[1] / TOKEN_DIVISOR)


def target_size(size: tuple[int, int]) -> tuple[int, int]:
    """The largest size with the same aspect ratio within 1568 px a side and 1.15 MP."""
    width, height = size
    scale = min(1.0, MAX_LONG_EDGE / max(width, height), math.sqrt(MAX_MODEL_PIXELS / (width * height)))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def prepare(body: bytes, declared: str) -> Prepared:
    """The image to send for `body` uploaded as `declared` ("jpeg" or "png"); InputError
    `unsupported_document` when it cannot be decoded or is too large to decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Reads the header only, with the declared format's decoder alone: another format
            # fails to open (image_undecodable); JPEG's may answer MPO (a multi-picture JPEG).
            image = Image.open(io.BytesIO(body), formats=[_PILLOW_FORMATS[declared]])
            source_size = image.size
            exif = image.getexif()
            camera = bool(exif.get(_EXIF_MAKE) or exif.get(_EXIF_MODEL))
            if source_size[0] * source_size[1] > MAX_INPUT_PIXELS:
                raise InputError("unsupported_document", reason="image_too_many_pixels")
            if image.format in ("JPEG", "MPO"):
                image.draft(None, target_size(source_size))  # scale only: _flatten sets the mode
            upright = ImageOps.exif_transpose(image)  # decodes (at the draft scale)
            image.close()
            pixels = _flatten(upright)
            size = target_size(pixels.size)
            if pixels.size != size:
                pixels = pixels.resize(size, Image.Resampling.LANCZOS)
    except InputError:
        raise
    except _DECODE_ERRORS:
        raise InputError("unsupported_document", reason="image_undecodable") from None
    data, fmt = _encode(pixels, png_too=declared == "png")
    return Prepared(data, fmt, pixels.size, source_size, camera)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB or L: transparency composited onto white (a transparent screenshot would turn
    black otherwise), palettes expanded, CMYK and 16-bit converted."""
    if image.mode in ("RGB", "L"):
        return image
    if image.mode == "I;16":  # a 16-bit grey PNG (test_photos.py pins the decoder's mode)
        return image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    # The modes with transparency the JPEG and PNG decoders produce (a palette without
    # transparency is all opaque: the same picture).
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, "white")
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB")


def _clean(image: Image.Image) -> Image.Image:
    """The same pixels in a new image with no `info` (Pillow's encoders copy comments
    and ICC profiles from it)."""
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    return clean


def _encode(image: Image.Image, png_too: bool) -> tuple[bytes, str]:
    image = _clean(image)
    jpeg = b""
    for quality in JPEG_QUALITIES:
        jpeg = _save(image, "JPEG", quality=quality, optimize=True)
        if len(jpeg) <= MAX_BYTES:
            break
    png = _save(image, "PNG") if png_too else b""
    fits = [(len(data), fmt, data) for data, fmt in ((jpeg, "jpeg"), (png, "png")) if data and len(data) <= MAX_BYTES]
    if not fits:
        raise InputError("unsupported_document", reason="image_too_large")
    return min(fits)[2], min(fits)[1]


def _save(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()
