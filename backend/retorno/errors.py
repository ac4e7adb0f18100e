"""Domain errors, raised by services with a message fit for a user; app.py maps them to HTTP once.

A message is an English message id with `%(name)s` parameters, never a formatted string:

    raise Invalid("%(field)s: at most %(max)s characters", field=Field("name"), max=200)

`detail` is the English text as the API writes it (logs, the CLI); `i18n.error_text` translates the
id through the catalogue and then fills in the parameters for the reader's language: a `Field`
becomes the label a form shows (the JSON name in the API), an `Amount` money as the locale writes
it (its centavos in the API).
`tests/test_i18n.py` fails when a message id has no pt-BR translation, and when an error is raised
with an f-string.
"""

from __future__ import annotations

from typing import Any, ClassVar


def N_(message: str) -> str:
    """Marks a message id kept in a table (REASONS) for the catalogue's extraction; returns it."""
    return message


class Field(str):
    """The name of an input: a JSON field in the API, a labelled box on a form."""


class Amount(int):
    """Centavos, shown as money in the reader's language."""


class Number(float):
    """A measure (a contrast ratio), shown with two decimals as the reader's language writes them."""


class Words(str):
    """A parameter that is itself a message id ("an e-mail address", "the logo"): translated with
    the message it goes into. Mark its literal with N_() so the catalogue holds it."""


class DomainError(Exception):
    status_code = 400
    title = "Bad request"

    def __init__(self, message: str, /, **params: Any) -> None:
        self.message, self.params = message, params
        self.detail = message % _english(params) if params else message
        super().__init__(self.detail)


class Problem(str):
    """One problem among several (a brand pack's checks): the file, the key and what is wrong.
    It reads as its English line (the API, the CLI, logs: "brand.toml: theme.primary: ..."); its
    `message` and `params` translate it for a page (`i18n.problem_text`)."""

    file: str
    key: str
    message: str
    params: dict[str, Any]

    def __new__(cls, file: str, key: str, message: str, /, **params: Any) -> Problem:
        text = message % _english(params) if params else message
        self = super().__new__(cls, ": ".join(part for part in (file, key, text) if part))
        self.file, self.key, self.message, self.params = file, key, message, params
        return self

    def in_file(self, file: str) -> Problem:
        """The same problem, naming its file otherwise (a temporary folder's path taken out)."""
        return Problem(file, self.key, self.message, **self.params)


def _english(params: dict[str, Any]) -> dict[str, Any]:
    return {
        k: f"{int(v)} centavos" if isinstance(v, Amount) else f"{v:.2f}" if isinstance(v, Number) else v
        for k, v in params.items()
    }


class BadRequest(DomainError):
    status_code = 400
    title = "Bad request"


class NotFound(DomainError):
    status_code = 404
    title = "Not found"


class Conflict(DomainError):
    status_code = 409
    title = "Conflict"


class Invalid(DomainError):
    """Input that breaks a rule; `problems` lists every one (file, key, what is wrong)."""

    status_code = 422
    title = "Invalid input"

    def __init__(self, message: str, /, problems: list[str] | None = None, **params: Any) -> None:
        super().__init__(message, **params)
        self.problems = problems or [self.detail]


class Refused(DomainError):
    """Why a code (a voucher, a coupon) cannot be used: `reason`, one of the subclass's REASONS,
    goes in the problem+json; 404 when nothing has the code, 409 for a reason in CONFLICTS (someone
    else got there first), 422 for any other."""

    REASONS: ClassVar[dict[str, str]] = {}
    CONFLICTS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(self.REASONS[reason], code=code)
        self.reason = reason
        self.extra = {"reason": reason}
        kind = NotFound if reason == "not_found" else Conflict if reason in self.CONFLICTS else Invalid
        self.status_code, self.title = kind.status_code, kind.title


class Unauthorized(DomainError):
    status_code = 401
    title = "Unauthorized"


class UnsupportedMediaType(DomainError):
    status_code = 415
    title = "Unsupported media type"


# A stable code for programs, by status (the `code` of every problem details answer).
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    503: "unavailable",
}


# A title for each status the framework itself may answer with (a route's own errors have their own).
TITLES = {
    400: N_("Bad request"),
    401: N_("Unauthorized"),
    403: N_("Not allowed"),
    404: N_("Page not found"),
    405: N_("Method not allowed"),
    413: N_("Content too large"),
    415: N_("Unsupported media type"),
    429: N_("Too many requests"),
}
