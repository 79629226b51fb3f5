"""OpenAPI post-processing: every operation documents the errors it can answer with.

Views document their own domain answers (409, 412, 422, 428); the answers every operation can give
(invalid data, no credentials, wrong role, unknown record, JSON only, throttled) are added here so
the schema matches what the API really sends.
"""

from __future__ import annotations

from typing import Any

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
DESCRIPTIONS = {
    "400": "Invalid data or query parameters: `fields` names each one at fault.",
    "401": "No valid credentials (token missing, expired or revoked).",
    "403": "The caller's role may not do this.",
    "404": "No such record, or not one the caller may see.",
    "406": "Only application/json can be returned.",
    "415": "Only application/json is accepted.",
    "429": "Too many attempts; see Retry-After.",
}


def add_common_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            codes = ["400", "406"]
            if operation.get("security") != [{}] and {} not in operation.get("security", []):
                codes += ["401", "403"]
            if "{" in path:
                codes.append("404")
            if "requestBody" in operation:
                codes.append("415")
            if "/public/" in path or path.endswith("/auth/token/"):
                codes.append("429")
            for code in codes:
                responses.setdefault(code, {"description": DESCRIPTIONS[code], "content": ERROR})
    return result
