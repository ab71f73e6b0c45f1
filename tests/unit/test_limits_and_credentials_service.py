"""Service-layer parts of limits and credentials that no HTTP call exposes:
``effective_limit`` (for quotas), ``ec2_by_access`` (for S3 signatures) and
credential blobs surviving a key rotation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nubo.config import Config
from nubo.db import migrate
from nubo.db.engine import Database
from nubo.errors import Forbidden, NotFound
from nubo.identity.bootstrap import bootstrap
from nubo.identity.models import Credential
from nubo.identity.resources import DEFAULT_DOMAIN_ID
from nubo.identity.service import Identity


@pytest.fixture
def identity(tmp_path: Path) -> Iterator[Identity]:
    cfg = Config(data_dir=str(tmp_path))
    cfg.identity.password_hash_rounds = 4
    db = Database(cfg.database_url)
    migrate.upgrade(db.engine)
    ident = Identity(cfg, db)
    ident.setup_keys()
    bootstrap(ident, "admin-pw", "demo-pw")
    yield ident
    db.dispose()


def _project(identity: Identity, name: str) -> str:
    return identity.resources.create_project({"name": name}, DEFAULT_DOMAIN_ID).id


def test_effective_limit(identity: Identity) -> None:
    limits = identity.limits
    compute = identity.catalog.create_service({"type": "compute", "name": "nova"}).id
    identity.catalog.create_region({"id": "RegionTwo"})
    p1 = _project(identity, "p1")
    p2 = _project(identity, "p2")

    assert limits.effective_limit(p1, "compute", "cores") is None
    assert limits.effective_limit(p1, "no-such-service", "cores") is None

    limits.create_registered_limits(
        [{"service_id": compute, "resource_name": "cores", "default_limit": 20}]
    )
    assert limits.effective_limit(p1, "compute", "cores") == 20
    assert limits.effective_limit(p1, "compute", "cores", "RegionTwo") == 20
    assert limits.effective_limit(p1, "compute", "ram") is None

    limits.create_registered_limits(
        [
            {
                "service_id": compute,
                "region_id": "RegionTwo",
                "resource_name": "cores",
                "default_limit": 8,
            }
        ]
    )
    # the region's own default wins there; elsewhere the region-less one applies
    assert limits.effective_limit(p1, "compute", "cores", "RegionTwo") == 8
    assert limits.effective_limit(p1, "compute", "cores", "RegionOne") == 20

    limits.create_limits(
        [{"project_id": p1, "service_id": compute, "resource_name": "cores", "resource_limit": 4}]
    )
    assert limits.effective_limit(p1, "compute", "cores") == 4
    assert limits.effective_limit(p1, "compute", "cores", "RegionTwo") == 4
    assert limits.effective_limit(p2, "compute", "cores") == 20
    # -1 means unlimited in unified limits, and is passed through as is
    limits.create_limits(
        [{"project_id": p2, "service_id": compute, "resource_name": "cores", "resource_limit": -1}]
    )
    assert limits.effective_limit(p2, "compute", "cores") == -1


def test_ec2_by_access(identity: Identity) -> None:
    creds = identity.credentials
    with identity.db.reader() as s:
        user = identity.users.find(s, name="demo", domain_id=DEFAULT_DOMAIN_ID)
        assert user is not None
        user_id = user.id
        member = identity.assignments.find_role(s, "member")
        assert member is not None
        member_id = member.id
    project = _project(identity, "s3")
    # an EC2 key needs its owner's role on the project
    with pytest.raises(Forbidden):
        creds.create_ec2(user_id, project)
    identity.assignments.grant("user", user_id, "project", project, member_id)
    made = creds.create_ec2(user_id, project)
    assert creds.ec2_by_access(made.access) == (user_id, project, made.secret)
    with pytest.raises(NotFound):
        creds.ec2_by_access("unknown")
    creds.delete_ec2(user_id, made.access)
    with pytest.raises(NotFound):
        creds.ec2_by_access(made.access)


def test_blobs_are_encrypted_and_survive_rotation(identity: Identity) -> None:
    creds = identity.credentials
    with identity.db.reader() as s:
        user = identity.users.find(s, name="admin", domain_id=DEFAULT_DOMAIN_ID)
        assert user is not None
        user_id = user.id
    made = creds.create_credential({"type": "cert", "blob": "top secret", "user_id": user_id})
    with identity.db.reader() as s:
        row = s.get(Credential, made.id)
        assert row is not None
        assert "top secret" not in row.encrypted_blob
    before = row.encrypted_blob
    identity.credential_keys.rotate()
    assert creds.get_credential(made.id).blob == "top secret"
    # re-encrypted with the new primary key, the blob outlives the key it was made with
    assert creds.reencrypt_all() == 1
    with identity.db.reader() as s:
        row = s.get(Credential, made.id)
        assert row is not None and row.encrypted_blob != before
    for _ in range(3):
        identity.credential_keys.rotate()
        assert creds.reencrypt_all() == 1
    assert creds.get_credential(made.id).blob == "top secret"
