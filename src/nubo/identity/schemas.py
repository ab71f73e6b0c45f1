"""Request body schemas of the identity API (JSON Schema)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

ID = {"type": "string", "minLength": 1, "maxLength": 64}
NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"[\S]"}
PROJECT_NAME = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"[\S]"}
NULLABLE_ID = {"type": ["string", "null"], "maxLength": 64}
DESCRIPTION = {"type": ["string", "null"]}
BOOL = {"type": "boolean"}
TAG = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[^,/]*$"}
TAGS = {"type": "array", "items": TAG, "maxItems": 80, "uniqueItems": True}
OPTIONS = {"type": "object"}
PASSWORD = {"type": ["string", "null"], "maxLength": 4096}


def wrap(key: str, props: Schema, required: list[str] | None = None, extra: bool = True) -> Schema:
    """``{key: {...}}`` with the inner object's properties."""
    inner: Schema = {"type": "object", "properties": props}
    if required:
        inner["required"] = required
    if not extra:
        inner["additionalProperties"] = False
    return {"type": "object", "properties": {key: inner}, "required": [key]}


DOMAIN = {
    "name": NAME,
    "description": DESCRIPTION,
    "enabled": BOOL,
    "options": OPTIONS,
    "tags": TAGS,
    "explicit_domain_id": ID,
}
DOMAIN_CREATE = wrap("domain", DOMAIN, ["name"])
DOMAIN_UPDATE = wrap("domain", {**DOMAIN, "id": ID})

PROJECT = {
    "name": PROJECT_NAME,
    "description": DESCRIPTION,
    "enabled": BOOL,
    "domain_id": NULLABLE_ID,
    "parent_id": NULLABLE_ID,
    "is_domain": BOOL,
    "tags": TAGS,
    "options": OPTIONS,
}
PROJECT_CREATE = wrap("project", PROJECT, ["name"])
PROJECT_UPDATE = wrap("project", {**PROJECT, "id": ID})
PROJECT_TAGS = {"type": "object", "properties": {"tags": TAGS}, "required": ["tags"]}

USER = {
    "name": NAME,
    "domain_id": ID,
    "enabled": BOOL,
    "password": PASSWORD,
    "default_project_id": NULLABLE_ID,
    "description": DESCRIPTION,
    "options": OPTIONS,
    "email": {"type": ["string", "null"]},
}
USER_CREATE = wrap("user", USER, ["name"])
USER_UPDATE = wrap("user", {**USER, "id": ID})
PASSWORD_CHANGE = wrap(
    "user",
    {
        "password": {"type": "string", "minLength": 1, "maxLength": 4096},
        "original_password": {"type": "string", "maxLength": 4096},
    },
    ["password", "original_password"],
)

GROUP = {"name": NAME, "domain_id": ID, "description": DESCRIPTION}
GROUP_CREATE = wrap("group", GROUP, ["name"])
GROUP_UPDATE = wrap("group", {**GROUP, "id": ID})

ROLE = {"name": NAME, "domain_id": NULLABLE_ID, "description": DESCRIPTION, "options": OPTIONS}
ROLE_CREATE = wrap("role", ROLE, ["name"])
ROLE_UPDATE = wrap("role", {**ROLE, "id": ID})

REGION = {
    "id": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": DESCRIPTION,
    "parent_region_id": {"type": ["string", "null"]},
}
REGION_CREATE = {
    "type": "object",
    "properties": {"region": {"type": "object", "properties": REGION}},
    "required": ["region"],
}
REGION_UPDATE = REGION_CREATE

SERVICE = {
    "type": {"type": "string", "minLength": 1, "maxLength": 255},
    "name": {"type": "string", "maxLength": 255},
    "enabled": BOOL,
    "description": DESCRIPTION,
}
SERVICE_CREATE = wrap("service", SERVICE, ["type"])
SERVICE_UPDATE = wrap("service", SERVICE)

URL = {
    "type": "string",
    "minLength": 1,
    "maxLength": 225,
    "pattern": r"^[a-zA-Z][a-zA-Z0-9+.-]*://",
}
ENDPOINT = {
    "service_id": ID,
    "interface": {"type": "string", "enum": ["public", "internal", "admin"]},
    "url": URL,
    "region_id": {"type": ["string", "null"]},
    "region": {"type": ["string", "null"]},
    "enabled": BOOL,
}
ENDPOINT_CREATE = wrap("endpoint", ENDPOINT, ["service_id", "interface", "url"])
ENDPOINT_UPDATE = wrap("endpoint", ENDPOINT)

POLICY = {"type": {"type": "string", "minLength": 1, "maxLength": 255}, "blob": {"type": "string"}}
POLICY_CREATE = wrap("policy", POLICY, ["type", "blob"])
POLICY_UPDATE = wrap("policy", POLICY)

_USER_REF = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "password": {"type": "string"},
        "domain": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
        },
    },
}
AUTH = {
    "type": "object",
    "required": ["auth"],
    "properties": {
        "auth": {
            "type": "object",
            "required": ["identity"],
            "properties": {
                "identity": {
                    "type": "object",
                    "required": ["methods"],
                    "properties": {
                        "methods": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                        "password": {
                            "type": "object",
                            "required": ["user"],
                            "properties": {"user": _USER_REF},
                        },
                        "token": {
                            "type": "object",
                            "required": ["id"],
                            "properties": {"id": {"type": "string"}},
                        },
                        "application_credential": {
                            "type": "object",
                            "required": ["secret"],
                            "properties": {
                                "id": {"type": "string"},
                                "name": {"type": "string"},
                                "secret": {"type": "string"},
                                "user": _USER_REF,
                            },
                        },
                    },
                },
                "scope": {"type": ["object", "string"]},
            },
        }
    },
}
