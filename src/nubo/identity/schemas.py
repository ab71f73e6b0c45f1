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
    "name": PROJECT_NAME,
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

ROLE_REF = {
    "type": "object",
    "properties": {"id": ID, "name": NAME, "domain_id": NULLABLE_ID},
    "minProperties": 1,
}
ACCESS_RULE = {
    "type": "object",
    "properties": {
        "id": ID,
        "service": {"type": "string", "minLength": 1, "maxLength": 64},
        "path": {"type": "string", "minLength": 1, "maxLength": 225, "pattern": "^/"},
        "method": {"type": "string", "enum": ["HEAD", "GET", "POST", "PUT", "PATCH", "DELETE"]},
    },
    "anyOf": [{"required": ["id"]}, {"required": ["service", "path", "method"]}],
    "additionalProperties": False,
}
APPLICATION_CREDENTIAL_CREATE = wrap(
    "application_credential",
    {
        "name": NAME,
        "description": DESCRIPTION,
        "secret": {"type": ["string", "null"], "maxLength": 4096},
        "expires_at": {"type": ["string", "null"]},
        "roles": {"type": "array", "items": ROLE_REF},
        "unrestricted": {"type": ["boolean", "null"]},
        "access_rules": {"type": "array", "items": ACCESS_RULE},
    },
    ["name"],
)

CREDENTIAL = {
    "blob": {"type": "string", "maxLength": 65535},
    "type": {"type": "string", "minLength": 1, "maxLength": 255},
    "user_id": ID,
    "project_id": NULLABLE_ID,
}
CREDENTIAL_CREATE = wrap("credential", CREDENTIAL, ["blob", "type", "user_id"])
CREDENTIAL_UPDATE = wrap("credential", {**CREDENTIAL, "id": ID})
EC2_CREDENTIAL_CREATE = {
    "type": "object",
    "properties": {"tenant_id": ID},
    "required": ["tenant_id"],
}

LIMIT_VALUE = {"type": "integer", "minimum": -1, "maximum": 2147483647}
RESOURCE_NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"[\S]"}
REGION_REF = {"type": ["string", "null"], "maxLength": 255}
REGISTERED_LIMIT = {
    "service_id": ID,
    "region_id": REGION_REF,
    "resource_name": RESOURCE_NAME,
    "default_limit": LIMIT_VALUE,
    "description": DESCRIPTION,
}
REGISTERED_LIMITS_CREATE = {
    "type": "object",
    "properties": {
        "registered_limits": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": REGISTERED_LIMIT,
                "required": ["service_id", "resource_name", "default_limit"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["registered_limits"],
}
REGISTERED_LIMIT_UPDATE = wrap("registered_limit", {**REGISTERED_LIMIT, "id": ID}, extra=False)
LIMIT = {
    "project_id": NULLABLE_ID,
    "domain_id": NULLABLE_ID,
    "service_id": ID,
    "region_id": REGION_REF,
    "resource_name": RESOURCE_NAME,
    "resource_limit": LIMIT_VALUE,
    "description": DESCRIPTION,
}
LIMITS_CREATE = {
    "type": "object",
    "properties": {
        "limits": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": LIMIT,
                "required": ["service_id", "resource_name", "resource_limit"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["limits"],
}
LIMIT_UPDATE = wrap(
    "limit",
    {"id": ID, "resource_limit": LIMIT_VALUE, "description": DESCRIPTION},
    extra=False,
)

_NAMED_REF = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
}
_SCOPE = {
    "type": ["object", "string"],
    "properties": {
        "project": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "domain": _NAMED_REF,
            },
        },
        "domain": _NAMED_REF,
        "system": {"type": "object"},
        "OS-TRUST:trust": {"type": "object", "properties": {"id": {"type": "string"}}},
    },
}
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
                "scope": _SCOPE,
            },
        }
    },
}

TRUST_CREATE = wrap(
    "trust",
    {
        "trustor_user_id": ID,
        "trustee_user_id": ID,
        "project_id": NULLABLE_ID,
        "impersonation": BOOL,
        "expires_at": {"type": ["string", "null"]},
        "remaining_uses": {"type": ["integer", "null"]},
        "allow_redelegation": BOOL,
        "roles": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
            },
        },
    },
    ["trustor_user_id", "trustee_user_id", "impersonation"],
)

CONSUMER_CREATE = wrap("consumer", {"description": DESCRIPTION})
CONSUMER_UPDATE = wrap("consumer", {"description": DESCRIPTION, "id": ID})

ENDPOINT_GROUP_FILTERS = {
    "type": "object",
    "properties": {
        "service_id": ID,
        "region_id": {"type": "string", "minLength": 1, "maxLength": 255},
        "interface": {"type": "string", "enum": ["public", "internal", "admin"]},
    },
    "additionalProperties": False,
    "minProperties": 1,
}
ENDPOINT_GROUP = {"name": NAME, "description": DESCRIPTION, "filters": ENDPOINT_GROUP_FILTERS}
ENDPOINT_GROUP_CREATE = wrap("endpoint_group", ENDPOINT_GROUP, ["name", "filters"])
ENDPOINT_GROUP_UPDATE = wrap("endpoint_group", {**ENDPOINT_GROUP, "id": ID})

# groups and options are checked by the service layer (Keystone answers 403 there)
DOMAIN_CONFIG = {
    "type": "object",
    "properties": {"config": {"type": "object"}},
    "required": ["config"],
}
