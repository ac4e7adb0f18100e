"""Domain errors, raised by services with a message fit for a user; app.py maps them to HTTP once."""


class DomainError(Exception):
    status_code = 400
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


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

    def __init__(self, detail: str, problems: list[str] | None = None) -> None:
        super().__init__(detail)
        self.problems = problems or [detail]


class Unauthorized(DomainError):
    status_code = 401
    title = "Unauthorized"


class UnsupportedMediaType(DomainError):
    status_code = 415
    title = "Unsupported media type"
