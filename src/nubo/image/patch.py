"""JSON-patch updates of an image (``application/openstack-images-v2.1-json-patch``).

The patch works on a flat document: the writable core properties, ``tags`` and
custom properties, one level deep (``/name``, ``/hw_disk_bus``). Version 2.1
semantics: ``add`` of an existing property replaces it; ``replace`` and
``remove`` need the property to exist.
"""

from __future__ import annotations

import copy
from typing import Any

from nubo.api.validation import validate
from nubo.errors import BadRequest, Conflict, Forbidden
from nubo.image.schemas import IMAGE_WRITE, READ_ONLY, RESERVED, RESERVED_PREFIX, WRITABLE

MEDIA_TYPES = (
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
)
_OPS = ("add", "replace", "remove")


def check_name(name: str) -> None:
    """Refuse properties the server owns or reserves (403, as Glance answers)."""
    if name in READ_ONLY:
        raise Forbidden(f"Attribute '{name}' is read-only.")
    if name in RESERVED or name.startswith(RESERVED_PREFIX):
        raise Forbidden(f"Attribute '{name}' is reserved.")


def _operation(op: dict[str, Any]) -> tuple[str, Any]:
    """The op name and path, in RFC 6902 shape (``{"op": "add", "path": ...}``) or the
    older draft shape Glance also takes (``{"add": "/name", "value": ...}``)."""
    if "op" in op:
        name = op["op"]
        if name not in _OPS:
            raise BadRequest(f"Operation objects must contain one of {', '.join(_OPS)}.")
        return name, op.get("path")
    named = [k for k in _OPS if k in op]
    if len(named) != 1:
        raise BadRequest(f"Operation objects must contain exactly one of {', '.join(_OPS)}.")
    return named[0], op[named[0]]


def _path(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/") or len(path) < 2:
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    inner = path[1:]
    if "/" in inner or "~" in inner.replace("~0", "").replace("~1", ""):
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    return inner.replace("~1", "/").replace("~0", "~")


def apply(doc: dict[str, Any], patch: Any, media_type: str) -> dict[str, Any]:
    """Apply ``patch`` to ``doc`` (not changed) and return the patched copy."""
    if not isinstance(patch, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    result = copy.deepcopy(doc)
    strict_add = media_type.endswith("v2.0-json-patch")
    for op in patch:
        if not isinstance(op, dict):
            raise BadRequest("Operations must be JSON objects.")
        name, path = _operation(op)
        key = _path(path)
        check_name(key)
        if name in ("add", "replace") and "value" not in op:
            raise BadRequest(f"Operation '{name}' on '{key}' needs a 'value'.")
        if name == "add":
            if strict_add and key in result and key not in WRITABLE:
                raise Conflict(f"Property {key} already present.")
            result[key] = op["value"]
        elif name == "replace":
            if key not in result and key not in WRITABLE:
                raise Conflict(f"Property {key} does not exist.")
            result[key] = op["value"]
        else:
            if key in WRITABLE and key != "tags":
                raise Forbidden(f"Property {key} may not be removed.")
            if key not in result:
                raise Conflict(f"Property {key} does not exist.")
            if key == "tags":
                result["tags"] = []
            else:
                del result[key]
    validate(result, IMAGE_WRITE)
    return result
