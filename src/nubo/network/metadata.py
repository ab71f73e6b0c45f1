"""The receiving end of the metadata path: requests proxied from 169.254.169.254 inside
a network arrive at ``/metadata`` on nubo's listener, carrying the asking port's id
signed with a secret only nubo's processes hold. A port plugged into a server
(``device_owner`` ``compute:*``, ``device_id`` the server) gets that server's OpenStack
and EC2 metadata (built by ``nubo.compute.metadata_content``); any other port, or a
deleted server's, gets a 404 naming the port. The signed port id alone decides whose
content is served, so no instance can read another's. The one file a guest writes is
``openstack/<version>/password``: its encrypted password, posted once."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from nubo.api.faults import Family
from nubo.api.routing import ApiRequest, Reply, Router, Service
from nubo.compute import metadata_content as content
from nubo.config import Config
from nubo.db.engine import Database
from nubo.errors import Forbidden, NotFound

SECRET_FILE = "metadata_secret"
router = Router()


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


@router.route("GET", "", auth=False)
def ec2_versions(req: ApiRequest) -> Reply:
    asking_port(req.headers, _secret(req))
    return Reply(200, content.ec2_versions(), content_type=content.TEXT)


@router.route("GET", "/openstack", auth=False)
def openstack_versions(req: ApiRequest) -> Reply:
    asking_port(req.headers, _secret(req))
    return Reply(200, content.openstack_versions(), content_type=content.TEXT)


@router.route("GET", "/{path:path}", auth=False)
def instance_content(req: ApiRequest) -> Reply:
    """The asking port's instance's files; the signed port id alone decides which."""
    port_id = asking_port(req.headers, _secret(req))
    compute = req.app.state["compute"]
    body, content_type = answer(compute.db, compute.config, port_id, req.params["path"])
    return Reply(200, body, content_type=content_type)


@router.route("POST", "/{path:path}", auth=False)
def post_content(req: ApiRequest) -> Reply:
    """A guest posting its encrypted password to ``openstack/<version>/password``; a POST
    anywhere else is answered as a GET, as Nova does."""
    port_id = asking_port(req.headers, _secret(req))
    compute = req.app.state["compute"]
    path = req.params["path"]
    if not content.is_password_path(path):
        body, content_type = answer(compute.db, compute.config, port_id, path)
        return Reply(200, body, content_type=content_type)
    with compute.db.session() as s:
        server = content.server_of_port(s, port_id, for_update=True)
        if server is None:
            raise NotFound(f"Port {port_id} does not belong to an instance.")
        content.post_password(server, req.raw_body)
    return Reply(200, b"", content_type=content.TEXT)


def answer(db: Database, config: Config, port_id: str, path: str) -> tuple[bytes, str]:
    """(body, content type) of ``path`` for the instance behind ``port_id``; 404 when the
    port is not a live instance's or the instance has no such file."""
    with db.reader() as s:
        server = content.server_of_port(s, port_id)
        if server is None:
            raise NotFound(f"Port {port_id} does not belong to an instance.")
        instance = content.load(s, server, config)
        return content.render(instance, path)


def build_service() -> Service:
    return Service("metadata", "metadata", "/metadata", Family.KEYSTONE, router)
