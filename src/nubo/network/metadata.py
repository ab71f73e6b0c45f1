"""The receiving end of the metadata path: requests proxied from 169.254.169.254 inside
a network arrive at ``/metadata`` on nubo's listener, carrying the asking port's id
signed with a secret only nubo's processes hold. Compute serves instance content
here; until a port belongs to an instance the answer is a 404 naming the port."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from nubo.api.faults import Family
from nubo.api.routing import ApiRequest, Reply, Router, Service
from nubo.errors import Forbidden, NotFound

SECRET_FILE = "metadata_secret"
router = Router()

EC2_VERSIONS = "\n".join(
    [
        "1.0",
        "2007-01-19",
        "2007-03-01",
        "2007-08-29",
        "2007-10-10",
        "2007-12-15",
        "2008-02-01",
        "2008-09-01",
        "2009-04-04",
        "latest",
    ]
)


def load_secret(data_dir: Path) -> str:
    """The shared proxy secret, made once per data dir."""
    path = data_dir / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)
        return value


def sign(secret: str, port_id: str) -> str:
    return hmac.new(secret.encode(), port_id.encode(), hashlib.sha256).hexdigest()


def asking_port(headers: Mapping[str, str], secret: str) -> str:
    """The port the proxy says is asking; 403 unless its signature is right."""
    port_id = headers.get("x-nubo-port-id", "")
    signature = headers.get("x-nubo-port-id-signature", "")
    if not port_id or not hmac.compare_digest(sign(secret, port_id), signature):
        raise Forbidden("Metadata requests must come through a network's metadata proxy.")
    return port_id


def _secret(req: ApiRequest) -> str:
    value: str = req.app.state["metadata_secret"]
    return value


@router.route("GET", "/", auth=False)
def ec2_versions(req: ApiRequest) -> Reply:
    asking_port(req.headers, _secret(req))
    return Reply(200, EC2_VERSIONS.encode(), content_type="text/plain")


@router.route("GET", "/openstack", auth=False)
def openstack_versions(req: ApiRequest) -> Reply:
    asking_port(req.headers, _secret(req))
    return Reply(200, b"latest", content_type="text/plain")


@router.route("GET", "/{path:path}", auth=False)
def instance_content(req: ApiRequest) -> Reply:
    port_id = asking_port(req.headers, _secret(req))
    raise NotFound(f"Port {port_id} does not belong to an instance.")


def build_service() -> Service:
    return Service("metadata", "metadata", "/metadata", Family.KEYSTONE, router)
