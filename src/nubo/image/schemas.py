"""The image service's JSON schemas: what ``/v2/schemas/*`` serves and what the
create, patch and member bodies are validated against."""

from __future__ import annotations

import copy
from typing import Any

DISK_FORMATS = ["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]
CONTAINER_FORMATS = ["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]
VISIBILITIES = ["public", "private", "shared", "community"]
STATUSES = [
    "queued",
    "saving",
    "active",
    "killed",
    "deleted",
    "uploading",
    "importing",
    "pending_delete",
    "deactivated",
]
MEMBER_STATUSES = ["pending", "accepted", "rejected"]

MAX_NAME = 255
MAX_PROPERTY_KEY = 255
MAX_PROPERTY_VALUE = 65535
MAX_INT32 = 2**31 - 1

_UUID = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"

# Fields the server owns: a client may not set them (403, as Glance answers).
READ_ONLY = frozenset(
    {
        "checksum",
        "created_at",
        "direct_url",
        "file",
        "id",
        "locations",
        "os_hash_algo",
        "os_hash_value",
        "schema",
        "self",
        "size",
        "status",
        "stores",
        "updated_at",
        "virtual_size",
    }
)
# Names no image may carry as a property at all.
RESERVED = frozenset({"deleted", "deleted_at"})
RESERVED_PREFIX = "os_glance_"

# The core properties a client may set (besides custom ones).
WRITABLE = frozenset(
    {
        "name",
        "visibility",
        "protected",
        "os_hidden",
        "tags",
        "disk_format",
        "container_format",
        "min_ram",
        "min_disk",
        "owner",
    }
)

_PROPERTIES: dict[str, Any] = {
    "id": {
        "type": "string",
        "description": "An identifier for the image",
        "pattern": _UUID,
    },
    "name": {
        "type": ["null", "string"],
        "description": "Descriptive name for the image",
        "maxLength": MAX_NAME,
    },
    "status": {
        "type": "string",
        "readOnly": True,
        "description": "Status of the image",
        "enum": STATUSES,
    },
    "visibility": {
        "type": "string",
        "description": "Scope of image accessibility",
        "enum": VISIBILITIES,
    },
    "protected": {
        "type": "boolean",
        "description": "If true, image will not be deletable.",
    },
    "os_hidden": {
        "type": "boolean",
        "description": "If true, image will not appear in default image list response.",
    },
    "checksum": {
        "type": ["null", "string"],
        "readOnly": True,
        "description": "md5 hash of image contents.",
        "maxLength": 32,
    },
    "os_hash_algo": {
        "type": ["null", "string"],
        "readOnly": True,
        "description": "Algorithm to calculate the os_hash_value",
        "maxLength": 64,
    },
    "os_hash_value": {
        "type": ["null", "string"],
        "readOnly": True,
        "description": "Hexdigest of the image contents using the algorithm in os_hash_algo.",
        "maxLength": 128,
    },
    "owner": {
        "type": ["null", "string"],
        "description": "Owner of the image",
        "maxLength": 255,
    },
    "size": {
        "type": ["null", "integer"],
        "readOnly": True,
        "description": "Size of image file in bytes",
    },
    "virtual_size": {
        "type": ["null", "integer"],
        "readOnly": True,
        "description": "Virtual size of image in bytes",
    },
    "container_format": {
        "type": ["null", "string"],
        "description": "Format of the container",
        "enum": [None, *CONTAINER_FORMATS],
    },
    "disk_format": {
        "type": ["null", "string"],
        "description": "Format of the disk",
        "enum": [None, *DISK_FORMATS],
    },
    "created_at": {
        "type": "string",
        "readOnly": True,
        "description": "Date and time of image registration",
    },
    "updated_at": {
        "type": "string",
        "readOnly": True,
        "description": "Date and time of the last image modification",
    },
    "tags": {
        "type": "array",
        "description": "List of strings related to the image",
        "items": {"type": "string", "maxLength": 255},
    },
    "direct_url": {
        "type": "string",
        "readOnly": True,
        "description": "URL to access the image file kept in external store",
    },
    "min_ram": {
        "type": "integer",
        "description": "Amount of ram (in MB) required to boot image.",
        "minimum": 0,
        "maximum": MAX_INT32,
    },
    "min_disk": {
        "type": "integer",
        "description": "Amount of disk space (in GB) required to boot image.",
        "minimum": 0,
        "maximum": MAX_INT32,
    },
    "self": {"type": "string", "readOnly": True, "description": "An image self url"},
    "file": {"type": "string", "readOnly": True, "description": "An image file url"},
    "stores": {
        "type": "string",
        "readOnly": True,
        "description": "Store in which image data resides.",
    },
    "schema": {"type": "string", "readOnly": True, "description": "An image schema url"},
    "locations": {
        "type": "array",
        "description": "A set of URLs to access the image file kept in external store",
        "items": {
            "type": "object",
            "properties": {
                "url": {"type": "string", "maxLength": 255},
                "metadata": {"type": "object"},
            },
            "required": ["url", "metadata"],
        },
    },
}

IMAGE_SCHEMA: dict[str, Any] = {
    "name": "image",
    "properties": _PROPERTIES,
    "additionalProperties": {"type": "string"},
    "links": [
        {"rel": "self", "href": "{self}"},
        {"rel": "enclosure", "href": "{file}"},
        {"rel": "describedby", "href": "{schema}"},
    ],
}

IMAGES_SCHEMA: dict[str, Any] = {
    "name": "images",
    "properties": {
        "images": {"type": "array", "items": IMAGE_SCHEMA},
        "schema": {"type": "string"},
        "first": {"type": "string"},
        "next": {"type": "string"},
    },
    "links": [
        {"rel": "first", "href": "{first}"},
        {"rel": "next", "href": "{next}"},
        {"rel": "describedby", "href": "{schema}"},
    ],
}

MEMBER_SCHEMA: dict[str, Any] = {
    "name": "member",
    "properties": {
        "created_at": {
            "type": "string",
            "description": "Date and time of image member creation",
        },
        "image_id": {
            "type": "string",
            "description": "An identifier for the image",
            "pattern": _UUID,
        },
        "member_id": {"type": "string", "description": "An identifier for the image member"},
        "status": {
            "type": "string",
            "description": "The status of this image member",
            "enum": MEMBER_STATUSES,
        },
        "updated_at": {
            "type": "string",
            "description": "Date and time of last modification of image member",
        },
        "schema": {"type": "string", "readOnly": True},
    },
}

MEMBERS_SCHEMA: dict[str, Any] = {
    "name": "members",
    "properties": {
        "members": {"type": "array", "items": MEMBER_SCHEMA},
        "schema": {"type": "string"},
    },
    "links": [{"rel": "describedby", "href": "{schema}"}],
}

SERVED = {
    "image": IMAGE_SCHEMA,
    "images": IMAGES_SCHEMA,
    "member": MEMBER_SCHEMA,
    "members": MEMBERS_SCHEMA,
}


def writable_schema() -> dict[str, Any]:
    """The image schema a create or patched image is checked against: the writable
    core properties, and strings for everything else."""
    props = {k: copy.deepcopy(v) for k, v in _PROPERTIES.items() if k in WRITABLE or k == "id"}
    props["tags"]["uniqueItems"] = False
    return {
        "type": "object",
        "properties": props,
        "additionalProperties": {"type": "string", "maxLength": MAX_PROPERTY_VALUE},
        "propertyNames": {"maxLength": MAX_PROPERTY_KEY, "minLength": 1},
    }


IMAGE_WRITE = writable_schema()

MEMBER_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {"member": {"type": "string", "minLength": 1, "maxLength": 255}},
    "required": ["member"],
}

MEMBER_UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {"status": {"type": "string", "enum": MEMBER_STATUSES}},
    "required": ["status"],
}

IMPORT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "method": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "uri": {"type": "string", "maxLength": 2048},
            },
            "required": ["name"],
        },
        "stores": {"type": "array", "items": {"type": "string"}},
        "all_stores": {"type": "boolean"},
        "all_stores_must_succeed": {"type": "boolean"},
    },
    "required": ["method"],
}


def _metadef(name: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _plural(name: str, key: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            key: {"type": "array", "items": item},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


_TEXT = {"type": "string", "maxLength": 255}
_STAMP = {"type": "string", "format": "date-time", "readOnly": True}
_METADEF_TAG = _metadef(
    "tag", {"name": _TEXT, "created_at": _STAMP, "updated_at": _STAMP}, ["name"]
)
_METADEF_PROPERTY = _metadef(
    "property",
    {
        "name": _TEXT,
        "title": _TEXT,
        "description": {"type": "string"},
        "type": {
            "type": "string",
            "enum": ["array", "boolean", "integer", "number", "object", "string"],
        },
        "enum": {"type": "array"},
        "default": {},
        "readonly": {"type": "boolean"},
    },
    ["name", "title", "type"],
)
_METADEF_OBJECT = _metadef(
    "object",
    {
        "name": _TEXT,
        "description": {"type": "string"},
        "required": {"type": "array", "items": {"type": "string"}},
        "properties": {"type": "object"},
        "created_at": _STAMP,
        "updated_at": _STAMP,
    },
    ["name"],
)
_METADEF_RESOURCE_TYPE = _metadef(
    "resource_type_association",
    {
        "name": _TEXT,
        "prefix": {"type": "string", "maxLength": 80},
        "properties_target": {"type": "string", "maxLength": 80},
        "created_at": _STAMP,
        "updated_at": _STAMP,
    },
    ["name"],
)
_METADEF_NAMESPACE = _metadef(
    "namespace",
    {
        "namespace": {"type": "string", "maxLength": 80},
        "display_name": _TEXT,
        "description": {"type": "string", "maxLength": 500},
        "visibility": {"type": "string", "enum": ["public", "private"]},
        "protected": {"type": "boolean"},
        "owner": _TEXT,
        "resource_type_associations": {"type": "array"},
        "properties": {"type": "object"},
        "objects": {"type": "array"},
        "tags": {"type": "array"},
        "created_at": _STAMP,
        "updated_at": _STAMP,
        "self": {"type": "string"},
        "schema": {"type": "string"},
    },
    ["namespace"],
)

# Schemas of the metadata-definitions catalog. nubo serves the documents (clients
# and Tempest read them); the metadefs API itself is not implemented.
METADEF_SCHEMAS: dict[str, dict[str, Any]] = {
    "namespace": _METADEF_NAMESPACE,
    "namespaces": _plural("namespaces", "namespaces", _METADEF_NAMESPACE),
    "resource_type": _METADEF_RESOURCE_TYPE,
    "resource_types": _plural(
        "resource_type_associations", "resource_type_associations", _METADEF_RESOURCE_TYPE
    ),
    "object": _METADEF_OBJECT,
    "objects": _plural("objects", "objects", _METADEF_OBJECT),
    "property": _METADEF_PROPERTY,
    "properties": {
        "name": "properties",
        "properties": {"properties": {"type": "object", "additionalProperties": _METADEF_PROPERTY}},
    },
    "tag": _METADEF_TAG,
    "tags": _plural("tags", "tags", _METADEF_TAG),
}


def served(name: str) -> dict[str, Any] | None:
    """The schema document ``/v2/schemas/<name>`` serves (``metadefs/...`` included)."""
    if name.startswith("metadefs/"):
        return METADEF_SCHEMAS.get(name.removeprefix("metadefs/"))
    return SERVED.get(name)
