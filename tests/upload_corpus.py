"""Files a brand manager might upload as a logo, most of them hostile: (name, content type, bytes,
whether a square raster of a good size is inside). Made on the fly with Pillow."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

SCRIPT = b"<script>alert(1)</script>"


def _image(fmt: str, size=(600, 600), mode="RGB", **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "#8E2453" if mode in ("RGB", "RGBA") else 128).save(out, format=fmt, **save)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG header that claims huge dimensions, with almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00"))
        + _png_chunk(b"IEND", b"")
    )


def _png_with_text(text: bytes) -> bytes:
    png = _image("PNG")
    return png[:33] + _png_chunk(b"tEXt", b"Comment\x00" + text) + png[33:]


def corpus() -> list[tuple[str, str, bytes, bool]]:
    png, jpeg, webp = _image("PNG"), _image("JPEG"), _image("WEBP")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="600" height="600">' + SCRIPT + b"</svg>"
    files = [
        ("logo.png", "image/png", png, True),
        ("logo.jpg", "image/jpeg", jpeg, True),
        ("logo.webp", "image/webp", webp, True),
        ("alpha.png", "image/png", _image("PNG", mode="RGBA"), True),
        ("grey.png", "image/png", _image("PNG", mode="L"), True),
        ("palette.png", "image/png", _image("PNG", mode="P"), True),
        ("cmyk.jpg", "image/jpeg", _image("JPEG", mode="CMYK"), True),
        ("progressive.jpg", "image/jpeg", _image("JPEG", progressive=True), True),
        ("comment.png", "image/png", _png_with_text(SCRIPT), True),
        ("polyglot.png", "image/png", png + b"<html>" + SCRIPT + b"</html>", True),
        ("php.png", "image/png", png + b"<?php system($_GET['c']); ?>", True),
        ("exif.jpg", "image/jpeg", _image("JPEG", comment=SCRIPT), True),
        ("wrong-extension.gif", "image/gif", png, True),  # a PNG by its content: the name does not matter
        ("script.svg", "image/svg+xml", svg, False),
        ("script-as.png", "image/png", svg, False),
        ("page.html", "text/html", b"<html><body>" + SCRIPT + b"</body></html>", False),
        ("page-as.png", "image/png", b"<!doctype html>" + SCRIPT, False),
        ("php-only.png", "image/png", b"\x89PNG\r\n\x1a\n<?php echo 1; ?>", False),
        ("empty.png", "image/png", b"", False),
        ("truncated.png", "image/png", png[: len(png) // 3], False),
        ("truncated.jpg", "image/jpeg", jpeg[: len(jpeg) // 3], False),
        ("huge.png", "image/png", _png_claiming(100_000, 100_000), False),
        ("tall.png", "image/png", _png_claiming(600, 50_000), False),
        ("not-square.png", "image/png", _image("PNG", size=(800, 600)), False),
        ("tiny.png", "image/png", _image("PNG", size=(64, 64)), False),
        (
            "too-many-bytes.png",
            "image/png",
            _image("PNG", size=(1400, 1400), mode="RGB", compress_level=0),
            False,
        ),
        ("logo.gif", "image/gif", _image("GIF"), False),
        ("logo.bmp", "image/bmp", _image("BMP"), False),
        ("logo.tiff", "image/tiff", _image("TIFF"), False),
        ("logo.ico", "image/x-icon", _image("ICO", size=(256, 256)), False),
        ("logo.pdf", "application/pdf", _image("PDF"), False),
        ("archive.zip", "application/zip", b"PK\x03\x04" + b"\x00" * 64, False),
        ("program.exe", "application/octet-stream", b"MZ" + b"\x00" * 64, False),
        ("data.json", "application/json", b'{"logo": "' + SCRIPT + b'"}', False),
        ("notes.txt", "text/plain", b"just text", False),
    ]
    return files


def assert_only_pixels(stored: bytes, name: str) -> None:
    """A stored logo is a square PNG of at least 512 px holding pixels and nothing else."""
    import io
    import struct

    from PIL import Image

    assert stored.startswith(b"\x89PNG\r\n\x1a\n"), name
    with Image.open(io.BytesIO(stored)) as image:
        image.load()
        assert image.format == "PNG" and image.size[0] == image.size[1] >= 512, name
    chunks, at = [], 8
    while at < len(stored):
        length, kind = struct.unpack(">I4s", stored[at : at + 8])
        chunks.append(kind)
        at += 12 + length
    assert set(chunks) <= {b"IHDR", b"IDAT", b"IEND"}, (name, chunks)
