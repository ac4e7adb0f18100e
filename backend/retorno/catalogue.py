"""What the translation catalogue must hold, read off the code: Babel extraction methods for
`make messages` (see backend/babel.cfg) and for the test that fails when a message has no pt-BR
translation.

- Templates: Jinja's own extractor, plus every `_("...")` it leaves out (calls with keyword
  arguments, `_("%(n)s left", n=...)`).
- Python: `_()`/`gettext()` calls, `N_()` marks, and the message id of every domain error
  (`Invalid("...")`, `super().__init__("...")` in an error class); each `Field("name")` is a form
  label, under the context "field". An error raised with an f-string cannot be translated: it is
  yielded as is, so the test names it.
- Families of ids built at run time (`_("kind:" ~ line.kind)`, `f"close:{key}"`): where the code
  names a family's prefix, every id of the family already in the pt-BR catalogue is kept.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from babel.messages.pofile import read_po
from jinja2.ext import babel_extract

CATALOGUE = Path(__file__).parent / "locale" / "pt_BR" / "LC_MESSAGES" / "messages.po"
# A family's prefix as the code writes it before the part it fills in: "kind:" ~ ..., f"close:{...}".
FAMILY = re.compile(r"""["']([a-z][a-z-]*:)(?:["']\s*[~+]|\{)""")

# The errors.py classes and their subclasses across the package, by name.
ERRORS = {
    "DomainError",
    "BadRequest",
    "NotFound",
    "Conflict",
    "Invalid",
    "Unauthorized",
    "UnsupportedMediaType",
    "Forbidden",
    "MailNotSent",
    "TooManyRequests",
    "WrongCode",
    "PasskeyRefused",
    "SignInRequired",
}
MARKS = {"_", "gettext", "N_"}
# Calls whose first argument names an input (bounds.check_text("name", ...)).
FIELDS = {"Field", "check_text", "check_key", "check_amount", "check_moment"}
CALL = re.compile(r"""(?<![\w.])(?:_|gettext)\(\s*"((?:[^"\\]|\\.)*)"\s*[,)]""")

Found = tuple[int, str, Any, list[str]]


def extract_templates(fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any) -> Iterator[Found]:
    source = fileobj.read()
    fileobj.seek(0)
    yield from babel_extract(cast(BinaryIO, fileobj), ("_", "gettext", "ngettext"), comment_tags, options)
    text = source.decode("utf-8")
    for match in CALL.finditer(text):
        yield text.count("\n", 0, match.start()) + 1, "gettext", match.group(1).replace('\\"', '"'), []
    yield from _families(text)


def _families(text: str) -> Iterator[Found]:
    for match in FAMILY.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        for message in _catalogued(match.group(1)):
            yield line, "gettext", message, []


@cache
def _catalogued(prefix: str) -> tuple[str, ...]:
    with CATALOGUE.open("rb") as f:
        return tuple(m.id for m in read_po(f) if isinstance(m.id, str) and m.id.startswith(prefix))


def extract_python(fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any) -> Iterator[Found]:
    source = fileobj.read()
    yield from _families(source.decode("utf-8"))
    tree = ast.parse(source)
    classes = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    subclasses = {c.name for c in classes if any(_name(base) in ERRORS for base in c.bases)}
    # An error class with an __init__ of its own takes other arguments (a reason, a wait): its
    # message ids are in its super().__init__ call or in a table of N_() marks.
    own_init = {
        c.name
        for c in classes
        if any(isinstance(f, ast.FunctionDef) and f.name == "__init__" for f in c.body)
    }
    error_classes = (ERRORS | subclasses) - own_init
    for cls in classes:  # an error class's title (the problem's `title`, the error page's heading)
        if cls.name in error_classes | own_init or cls.name in subclasses:
            for item in cls.body:
                if (
                    isinstance(item, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "title" for t in item.targets)
                    and isinstance(item.value, ast.Constant)
                ):
                    yield item.lineno, "gettext", item.value.value, []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        if _name(node.func) in ("gettext", "ngettext") and len(node.args) >= 2:  # i18n.gettext(lang, "...")
            second = node.args[1]
            if not (isinstance(node.args[0], ast.Constant)) and isinstance(second, ast.Constant):
                third = node.args[2] if len(node.args) >= 3 else None
                if _name(node.func) == "ngettext" and isinstance(third, ast.Constant):  # (lang, one, many, n)
                    yield node.lineno, "ngettext", (second.value, third.value), []
                else:
                    yield node.lineno, "gettext", second.value, []
            continue
        name, first = _name(node.func), node.args[0]
        if name in FIELDS:
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, "pgettext", ("field", first.value), []
        elif name in MARKS or name in error_classes or (name == "__init__" and _is_super(node.func)):
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, "gettext", first.value, []
            elif isinstance(first, ast.JoinedStr):
                yield (
                    node.lineno,
                    "gettext",
                    ast.unparse(first),
                    ["an f-string: give a message id and parameters"],
                )


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_super(func: ast.expr) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Call)
        and _name(func.value.func) == "super"
    )
