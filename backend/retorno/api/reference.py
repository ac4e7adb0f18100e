"""The API's reference page, /api/docs: the OpenAPI document read into operations and schemas and
drawn on the server. Nothing comes from a CDN and no script runs, so it works offline and under
the app's CSP; it is always the document the API itself serves (/api/openapi.json).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

# The order of the reference: what an integrator does first comes first.
TAGS = ("customers", "sales", "checkout", "redemptions", "vouchers")
BOUND_NAMES = {
    "minimum": "≥ {}",
    "maximum": "≤ {}",
    "minLength": "at least {} characters",
    "maxLength": "at most {} characters",
    "maxItems": "at most {} items",
    "pattern": "matches {}",
}


class FieldDoc(msgspec.Struct, kw_only=True):
    name: str
    type: str
    ref: str | None  # the schema it links to
    required: bool
    description: str
    bounds: list[str]
    example: str


class ResponseDoc(msgspec.Struct, kw_only=True):
    status: str
    description: str
    media_type: str
    ref: str | None


class OperationDoc(msgspec.Struct, kw_only=True):
    anchor: str
    method: str
    path: str
    summary: str
    description: str
    parameters: list[FieldDoc]
    body_ref: str | None
    body: list[FieldDoc]
    responses: list[ResponseDoc]
    curl: str


class SchemaDoc(msgspec.Struct, kw_only=True):
    name: str
    fields: list[FieldDoc]
    note: str


class Reference(msgspec.Struct, kw_only=True):
    title: str
    description: str
    version: str
    operations: list[OperationDoc]
    schemas: list[SchemaDoc]


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _type(schema: dict[str, Any]) -> tuple[str, str | None]:
    """A schema in words ("integer", "list of Item", "string or null") and the schema it names."""
    if name := _ref_name(schema):
        return name, name
    if len(schema.get("allOf") or []) == 1:  # a described reference
        return _type(schema["allOf"][0])
    options = schema.get("oneOf") or schema.get("anyOf")
    if options:
        words, ref = [], None
        for option in options:
            word, found = _type(option)
            words.append(word)
            ref = ref or found
        return " or ".join(dict.fromkeys(words)), ref
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(kind), None
    if kind == "array":
        word, ref = _type(schema.get("items", {}))
        return f"list of {word}", ref
    if schema.get("format") == "date-time":
        return "date-time (ISO 8601)", None
    return str(kind), None


def _bounds(schema: dict[str, Any]) -> list[str]:
    found = []
    for option in [schema, *(schema.get("oneOf") or [])]:
        for key, words in BOUND_NAMES.items():
            if key in option:
                value = option[key]
                found.append(
                    words.format(int(value) if isinstance(value, float) and value.is_integer() else value)
                )
    return found


def _firstexample_of(schema: dict[str, Any]) -> str:
    examples = [e for e in schema.get("examples") or [] if e not in ("", None)]
    return json.dumps(examples[0], ensure_ascii=False) if examples else ""


def _fields(schema: dict[str, Any]) -> list[FieldDoc]:
    required = set(schema.get("required", []))
    fields = []
    for name, prop in (schema.get("properties") or {}).items():
        word, ref = _type(prop)
        fields.append(
            FieldDoc(
                name=name,
                type=word,
                ref=ref,
                required=name in required,
                description=prop.get("description", ""),
                bounds=_bounds(prop),
                example=_firstexample_of(prop),
            )
        )
    return fields


def example_of(schema: dict[str, Any], schemas: dict[str, Any], depth: int = 0) -> Any:
    """A body made of the schema's examples, for the curl line (required fields and those with one)."""
    if name := _ref_name(schema):
        return example_of(schemas.get(name, {}), schemas, depth + 1) if depth < 4 else {}
    if len(schema.get("allOf") or []) == 1:  # a described reference
        return example_of(schema["allOf"][0], schemas, depth)
    if examples := schema.get("examples"):
        return examples[0]
    if "properties" in schema:
        required = set(schema.get("required", []))
        body = {}
        for field, prop in schema["properties"].items():
            value = example_of(prop, schemas, depth + 1)
            if field in required or (value not in (None, {}, []) and "examples" in prop):
                body[field] = value
        return body
    for option in schema.get("oneOf") or []:
        if option.get("type") != "null":
            return example_of(option, schemas, depth + 1)
    return {"integer": 0, "string": "", "boolean": False, "array": []}.get(schema.get("type", ""), None)


def _curl(method: str, path: str, parameters: list[dict[str, Any]], body: Any) -> str:
    for parameter in parameters:
        if parameter.get("in") == "path":
            examples = parameter.get("schema", {}).get("examples") or ["..."]
            path = path.replace("{" + parameter["name"] + "}", str(examples[0]))
    lines = [f"curl -X {method} https://<host>{path}", '  -H "Authorization: Bearer $RETORNO_KEY"']
    if body is not None:
        lines.append('  -H "Content-Type: application/json"')
        lines.append(f"  -d '{json.dumps(body, ensure_ascii=False)}'")
    return " \\\n".join(lines)


def reference(document: dict[str, Any]) -> Reference:
    """The reference page's content from an OpenAPI document (as /api/openapi.json has it)."""
    schemas = document.get("components", {}).get("schemas", {})
    operations = []
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            parameters = operation.get("parameters", [])
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            body_schema = content.get("schema")
            body_ref = _ref_name(body_schema) if body_schema else None
            responses = []
            for status, response in sorted(operation["responses"].items()):
                media_type, media = next(iter((response.get("content") or {"": {}}).items()))
                responses.append(
                    ResponseDoc(
                        status=status,
                        description=response.get("description", ""),
                        media_type=media_type,
                        ref=_ref_name(media.get("schema", {})) if media else None,
                    )
                )
            short = path.removeprefix("/api/v1")
            operations.append(
                OperationDoc(
                    anchor=operation.get("operationId", f"{method}-{short}"),
                    method=method.upper(),
                    path=path,
                    summary=operation.get("summary", ""),
                    description=operation.get("description", ""),
                    parameters=[
                        FieldDoc(
                            name=p["name"],
                            type=f"{_type(p.get('schema', {}))[0]} ({p.get('in')})",
                            ref=None,
                            required=bool(p.get("required")),
                            description=p.get("description", ""),
                            bounds=_bounds(p.get("schema", {})),
                            example=json.dumps(
                                (p.get("schema", {}).get("examples") or [""])[0], ensure_ascii=False
                            ),
                        )
                        for p in parameters
                    ],
                    body_ref=body_ref,
                    body=_fields(schemas.get(body_ref, {})) if body_ref else [],
                    responses=responses,
                    curl=_curl(
                        method.upper(),
                        path,
                        parameters,
                        example_of(body_schema, schemas) if body_schema else None,
                    ),
                )
            )
    order = {tag: i for i, tag in enumerate(TAGS)}
    operations.sort(
        key=lambda o: (order.get(o.path.removeprefix("/api/v1/").split("/")[0], 99), o.path, o.method)
    )
    return Reference(
        title=document.get("info", {}).get("title", ""),
        description=document.get("info", {}).get("description", ""),
        version=document.get("info", {}).get("version", ""),
        operations=operations,
        schemas=[
            SchemaDoc(
                name=name,
                fields=_fields(schema),
                note="Any one of external_id, cpf, email or phone is required."
                if schema.get("anyOf")
                else "",
            )
            for name, schema in sorted(schemas.items())
        ],
    )
