"""The API's errors as its OpenAPI document declares them: RFC 9457 problem details.

Every error the API answers is a `Problem` with `application/problem+json` (app.py writes them);
each operation declares the statuses it can answer with `problems(...)`, so a client generated
from /api/openapi.json knows every shape it may receive.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from msgspec import UNSET, UnsetType

from retorno.bounds import doc


class FieldError(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One field the request got wrong, as the request's own validation names it."""

    message: str
    key: str | UnsetType = UNSET
    source: str | UnsetType = UNSET


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An error, as RFC 9457 problem details; `title` and `detail` follow Accept-Language."""

    type: Annotated[str, doc("Always about:blank: `code` tells errors apart.", example="about:blank")]
    title: Annotated[str, doc("The status in words.", example="Invalid input")]
    status: Annotated[int, doc("The HTTP status, repeated.", example=422)]
    detail: Annotated[str, doc("What went wrong, for a person.", example="total: must be a whole number")]
    code: Annotated[
        str,
        doc(
            "A stable code for programs: bad_request, unauthorized, not_found, conflict, invalid, "
            "unsupported_media_type, too_large, method_not_allowed, too_many_requests, server_error.",
            example="invalid",
        ),
    ]
    reason: Annotated[
        str | UnsetType,
        doc("Why a redemption or a voucher was refused (see the operation).", example="below_min_order"),
    ] = UNSET
    max_amount: Annotated[
        int | UnsetType, doc("The most cashback that could be used on this order, in centavos.")
    ] = UNSET
    problems: Annotated[list[str] | UnsetType, doc("Every problem, when there are several.")] = UNSET
    errors: Annotated[list[FieldError] | UnsetType, doc("The fields a request got wrong.")] = UNSET


# What each status means for this API's operations.
STATUSES = {
    400: "The body is not JSON, or not of the shape described (a field of the wrong type, unknown, missing).",
    401: "No valid API key: send `Authorization: Bearer <key>`.",
    404: "No such customer, sale, redemption or voucher at this brand.",
    409: "It conflicts with what is recorded (an id reused with other content, a cancelled order).",
    413: "The body is larger than 1 MB.",
    415: "The body is not sent as `application/json`.",
    422: "The values break a rule (an amount out of range, a date too old, items that do not add up).",
    429: "Too many wrong API keys from this address: wait `Retry-After` seconds.",
}
COMMON = (400, 401, 429)  # every operation
WRITE = (*COMMON, 413, 415, 422)  # every operation with a JSON body


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """The error responses of an operation, each a Problem as application/problem+json."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=STATUSES[status],
            media_type="application/problem+json",
            generate_examples=False,
        )
        for status in sorted(set(statuses))
    }


REPLAYED = "A retry with the same content: the answer it was given the first time."


def also(status: int, kind: type, description: str = REPLAYED) -> dict[int, ResponseSpec]:
    """A second success an operation answers (an idempotent retry's 200 beside its 201)."""
    return {status: ResponseSpec(data_container=kind, description=description, generate_examples=False)}
