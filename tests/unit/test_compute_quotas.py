"""Compute quotas in the service layer on a real (SQLite) database: where a limit
comes from (defaults, the default class, project and user rows), usage counted from
server, keypair and server group rows, Nova's over-quota messages, the settable range
of an update, and /limits' absolute values."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nubo.api.policy import PolicyEngine
from nubo.compute import models as m
from nubo.compute import quotas, server_groups
from nubo.compute.access import Caller
from nubo.compute.policies import RULES
from nubo.compute.service import ComputeService
from nubo.config import Config
from nubo.db import migrate
from nubo.db.engine import Database
from nubo.errors import BadRequest, Forbidden
from nubo.identity.models import Project

POLICY = PolicyEngine()
POLICY.register(RULES)

P1 = "p1" + "0" * 30
P2 = "p2" + "0" * 30


def caller(project: str, user: str, admin: bool = False) -> Caller:
    roles = ["admin", "member", "reader"] if admin else ["member", "reader"]
    creds = {"roles": roles, "project_id": project, "user_id": user}
    return Caller(
        project_id=project,
        user_id=user,
        is_admin=admin,
        allowed=lambda rule, target: POLICY.allowed(rule, creds, target),
    )


ADMIN = caller("admin-project", "admin-user", admin=True)
ALICE = caller(P1, "alice")
BOB = caller(P1, "bob")


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ComputeService]:
    cfg = Config(data_dir=str(tmp_path))
    db = Database(cfg.database_url)
    migrate.upgrade(db.engine)
    with db.session() as s:
        for pid in (P1, P2):
            s.add(Project(id=pid, name=pid, domain_id="default"))
    yield ComputeService(cfg, db, None, None, None, None)  # type: ignore[arg-type]
    db.dispose()


def add_server(
    svc: ComputeService, project: str, user: str, vcpus: int, ram: int, deleted: bool = False
) -> str:
    server_id = str(uuid.uuid4())
    with svc.db.session() as s:
        s.add(
            m.Server(
                id=server_id,
                project_id=project,
                user_id=user,
                name="s",
                flavor={"id": "1", "vcpus": vcpus, "memory_mb": ram},
                deleted_at=dt.datetime.now(dt.UTC) if deleted else None,
            )
        )
    return server_id


def check(svc: ComputeService, project: str, user: str | None, **deltas: int) -> None:
    with svc.db.reader() as s:
        quotas.check_quota(svc, s, project, user, deltas)


def set_quota(svc: ComputeService, project: str, body: dict[str, Any], **kw: Any) -> dict[str, int]:
    allowed = [r for r in quotas.DEFAULTS]
    user = kw.pop("user_id", None)
    return quotas.update_quota_set(svc, ADMIN, project, user, {"quota_set": body}, allowed)


# -- where limits come from --------------------------------------------------------------


def test_defaults_then_class_then_project_then_user(svc: ComputeService) -> None:
    shown = quotas.show_quota_set(svc, ALICE, P1, None)
    assert shown["instances"] == 10 and shown["cores"] == 20 and shown["ram"] == 51200
    assert shown["key_pairs"] == 100 and shown["server_groups"] == 10
    assert shown["server_group_members"] == 10 and shown["metadata_items"] == 128

    body = {"quota_class_set": {"instances": 50, "cores": "40"}}
    updated = quotas.update_quota_class(svc, ADMIN, "default", body, quotas.DEFAULTS)
    assert updated["instances"] == 50 and updated["cores"] == 40
    assert quotas.show_quota_set(svc, ALICE, P1, None)["instances"] == 50
    assert quotas.default_quota_set(svc, ALICE, P1)["cores"] == 40

    set_quota(svc, P1, {"instances": 7})
    assert quotas.show_quota_set(svc, ALICE, P1, None)["instances"] == 7
    assert quotas.show_quota_set(svc, ADMIN, P2, None)["instances"] == 50
    # the defaults stay the defaults
    assert quotas.default_quota_set(svc, ALICE, P1)["instances"] == 50

    set_quota(svc, P1, {"instances": 3}, user_id="alice")
    assert quotas.show_quota_set(svc, ALICE, P1, "alice")["instances"] == 3
    assert quotas.show_quota_set(svc, ALICE, P1, "bob")["instances"] == 7
    assert quotas.show_quota_set(svc, ALICE, P1, None)["instances"] == 7

    quotas.delete_quota_set(svc, ADMIN, P1, "alice")
    assert quotas.show_quota_set(svc, ALICE, P1, "alice")["instances"] == 7
    quotas.delete_quota_set(svc, ADMIN, P1, None)
    assert quotas.show_quota_set(svc, ALICE, P1, None)["instances"] == 50


def test_another_class_falls_back_to_the_default_class(svc: ComputeService) -> None:
    quotas.update_quota_class(
        svc, ADMIN, "default", {"quota_class_set": {"ram": 1000}}, quotas.DEFAULTS
    )
    gold = quotas.update_quota_class(
        svc, ADMIN, "gold", {"quota_class_set": {"cores": 99}}, quotas.DEFAULTS
    )
    assert gold["cores"] == 99 and gold["ram"] == 1000 and gold["instances"] == 10
    assert quotas.show_quota_class(svc, ADMIN, "default")["cores"] == 20


def test_members_may_not_set_or_read_other_projects(svc: ComputeService) -> None:
    with pytest.raises(Forbidden):
        quotas.update_quota_set(svc, ALICE, P1, None, {"quota_set": {"cores": 1}}, ["cores"])
    with pytest.raises(Forbidden):
        quotas.show_quota_set(svc, ALICE, P2, None)
    with pytest.raises(Forbidden):
        quotas.delete_quota_set(svc, ALICE, P1, None)
    with pytest.raises(Forbidden):
        quotas.show_quota_class(svc, ALICE, "default")


def test_unknown_project_is_400(svc: ComputeService) -> None:
    with pytest.raises(BadRequest, match=r"Project ID nope is not a valid project\."):
        quotas.show_quota_set(svc, ADMIN, "nope", None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": -2}, "less than the minimum of -1"),
        ({"instances": 2**31}, "greater than the maximum"),
        ({"instances": "ten"}, "does not match"),
        ({"instances": 1.5}, "is not of type"),
        ({"instances": True}, "is not of type"),
        ({"bogus": 1}, "'bogus' was unexpected"),
        ({"force": "maybe"}, "force"),
    ],
)
def test_invalid_values(svc: ComputeService, body: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        set_quota(svc, P1, body)


def test_hidden_resources_are_not_settable(svc: ComputeService) -> None:
    allowed = [r for r in quotas.DEFAULTS if r not in quotas.NETWORK]
    with pytest.raises(BadRequest, match="'floating_ips' was unexpected"):
        quotas.update_quota_set(svc, ADMIN, P1, None, {"quota_set": {"floating_ips": 1}}, allowed)


# -- usage and enforcement -----------------------------------------------------------------


def test_usage_counts_live_servers_of_the_project(svc: ComputeService) -> None:
    add_server(svc, P1, "alice", 2, 512)
    add_server(svc, P1, "bob", 1, 256)
    add_server(svc, P1, "alice", 8, 8192, deleted=True)
    add_server(svc, P2, "carol", 4, 4096)
    detail = quotas.quota_set_detail(svc, ALICE, P1, None)
    assert detail["instances"] == {"limit": 10, "in_use": 2, "reserved": 0}
    assert detail["cores"]["in_use"] == 3 and detail["ram"]["in_use"] == 768
    alice = quotas.quota_set_detail(svc, ALICE, P1, "alice")
    assert alice["instances"]["in_use"] == 1 and alice["cores"]["in_use"] == 2


def test_instances_over_quota_message(svc: ComputeService) -> None:
    set_quota(svc, P1, {"instances": 2})
    add_server(svc, P1, "alice", 1, 64)
    check(svc, P1, "alice", instances=1, cores=1, ram=64)
    add_server(svc, P1, "bob", 1, 64)
    with pytest.raises(Forbidden) as err:
        check(svc, P1, "alice", instances=1, cores=1, ram=64)
    assert err.value.message == (
        "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
    )
    # another project is not affected
    check(svc, P2, "carol", instances=1)


def test_several_resources_over_quota(svc: ComputeService) -> None:
    set_quota(svc, P1, {"cores": 4, "ram": 1024})
    add_server(svc, P1, "alice", 3, 1000)
    with pytest.raises(Forbidden) as err:
        check(svc, P1, "alice", instances=1, cores=2, ram=512)
    assert err.value.message == (
        "Quota exceeded for cores, ram: Requested 2, 512, but already used 3, 1000 of 4, 1024 "
        "cores, ram"
    )


def test_unlimited_and_zero(svc: ComputeService) -> None:
    set_quota(svc, P1, {"instances": -1, "cores": 0})
    check(svc, P1, "alice", instances=1000)
    with pytest.raises(Forbidden, match="Quota exceeded for cores"):
        check(svc, P1, "alice", cores=1)


def test_user_limits_bind_only_that_user(svc: ComputeService) -> None:
    set_quota(svc, P1, {"instances": 5})
    set_quota(svc, P1, {"instances": 1}, user_id="alice")
    add_server(svc, P1, "alice", 1, 64)
    with pytest.raises(Forbidden, match="already used 1 of 1 instances"):
        check(svc, P1, "alice", instances=1)
    check(svc, P1, "bob", instances=3)
    with pytest.raises(Forbidden, match="already used 1 of 5 instances"):
        check(svc, P1, "bob", instances=5)


def test_recheck_with_zero_delta(svc: ComputeService) -> None:
    set_quota(svc, P1, {"instances": 1})
    add_server(svc, P1, "alice", 1, 64)
    check(svc, P1, "alice", instances=0)
    add_server(svc, P1, "alice", 1, 64)
    with pytest.raises(Forbidden):
        check(svc, P1, "alice", instances=0)


def test_keypairs_are_counted_per_user(svc: ComputeService) -> None:
    set_quota(svc, P1, {"key_pairs": 1})
    with svc.db.session() as s:
        s.add(m.KeyPair(user_id="alice", name="k", fingerprint="f", public_key="x"))
    with pytest.raises(Forbidden) as err:
        check(svc, P1, "alice", key_pairs=1)
    assert err.value.message == "Quota exceeded, too many key pairs."
    check(svc, P1, "bob", key_pairs=1)
    # Nova reports keypair usage as 0
    assert quotas.quota_set_detail(svc, ALICE, P1, "alice")["key_pairs"]["in_use"] == 0


def test_server_groups_and_members(svc: ComputeService) -> None:
    set_quota(svc, P1, {"server_groups": 1, "server_group_members": 2})
    group = server_groups.create_group(svc, ALICE, "g", "anti-affinity", {})
    with pytest.raises(Forbidden, match=r"^Quota exceeded, too many server groups\.$"):
        server_groups.create_group(svc, BOB, "g2", "affinity", {})
    servers = [add_server(svc, P1, "alice", 1, 64) for _ in range(3)]
    with svc.db.session() as s:
        server_groups.add_member(svc, s, group.id, servers[0], P1)
        server_groups.add_member(svc, s, group.id, servers[1], P1)
    with svc.db.session() as s, pytest.raises(Forbidden) as err:
        server_groups.add_member(svc, s, group.id, servers[2], P1)
    assert err.value.message == "Quota exceeded, too many servers in group"
    _, members = server_groups.show_group(svc, ALICE, group.id)
    assert sorted(members) == sorted(servers[:2])
    # a deleted member no longer counts, nor shows
    with svc.db.session() as s:
        s.get(m.Server, servers[0]).deleted_at = dt.datetime.now(dt.UTC)  # type: ignore[union-attr]
    assert server_groups.show_group(svc, ALICE, group.id)[1] == [servers[1]]
    with svc.db.session() as s:
        server_groups.add_member(svc, s, group.id, servers[2], P1)
    assert quotas.quota_set_detail(svc, ALICE, P1, None)["server_groups"]["in_use"] == 1


# -- updates below usage -------------------------------------------------------------------


def test_limit_below_usage_needs_force(svc: ComputeService) -> None:
    for _ in range(3):
        add_server(svc, P1, "alice", 2, 100)
    with pytest.raises(BadRequest) as err:
        set_quota(svc, P1, {"instances": 2})
    assert err.value.message == (
        "Quota limit 2 for instances must be greater than or equal to already used and reserved 3."
    )
    assert set_quota(svc, P1, {"instances": 2, "force": True})["instances"] == 2
    assert set_quota(svc, P1, {"cores": -1})["cores"] == -1
    assert set_quota(svc, P1, {"cores": 6})["cores"] == 6


def test_user_limit_within_what_the_project_leaves(svc: ComputeService) -> None:
    set_quota(svc, P1, {"cores": 10})
    set_quota(svc, P1, {"cores": 6}, user_id="bob")
    with pytest.raises(BadRequest) as err:
        set_quota(svc, P1, {"cores": 5}, user_id="alice")
    assert err.value.message == "Quota limit 5 for cores must be less than or equal to 4."
    assert set_quota(svc, P1, {"cores": 4}, user_id="alice")["cores"] == 4
    # the project may not go below what its users were given
    with pytest.raises(BadRequest, match="already used and reserved 10"):
        set_quota(svc, P1, {"cores": 9})


# -- /limits -------------------------------------------------------------------------------


def test_absolute_limits(svc: ComputeService) -> None:
    add_server(svc, P1, "alice", 2, 512)
    server_groups.create_group(svc, ALICE, "g", "affinity", {})
    old = quotas.absolute_limits(svc, ALICE, None, (), image_meta=True)
    assert old["maxTotalInstances"] == 10 and old["totalInstancesUsed"] == 1
    assert old["totalCoresUsed"] == 2 and old["totalRAMUsed"] == 512
    assert old["maxImageMeta"] == 128 and old["maxServerMeta"] == 128
    assert old["totalServerGroupsUsed"] == 1 and old["maxServerGroups"] == 10
    assert old["maxTotalFloatingIps"] == -1 and "totalFloatingIpsUsed" in old
    hidden = {"floating_ips", "security_groups", "security_group_rules", "injected_files",
              "injected_file_content_bytes"}  # fmt: skip
    new = quotas.absolute_limits(svc, ALICE, None, hidden, image_meta=False)
    assert "maxImageMeta" not in new and "maxTotalFloatingIps" not in new
    assert "maxPersonality" not in new and "totalSecurityGroupsUsed" not in new
    assert new["maxTotalKeypairs"] == 100 and new["maxServerGroupMembers"] == 10
    # another project's: admins only
    with pytest.raises(Forbidden):
        quotas.absolute_limits(svc, ALICE, P2, (), image_meta=False)
    other = quotas.absolute_limits(svc, ADMIN, P1, (), image_meta=False)
    assert other["totalInstancesUsed"] == 1
