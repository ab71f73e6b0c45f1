"""The `openstack image ...` commands against nubo: create with --file, list, show,
set/unset, add/remove project, save, delete."""

from __future__ import annotations

import os

import pytest


def test_image_lifecycle_with_the_cli(run_cli, unique, tmp_path):
    data = os.urandom(256 * 1024)
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    name = unique("cli")
    created = run_cli(
        "image", "create", "--file", str(source), "--disk-format", "raw",
        "--container-format", "bare", "--property", "os_distro=nubo", name,
    )  # fmt: skip
    assert created["status"] == "active"
    assert created["size"] == len(data)
    assert name in {i["Name"] for i in run_cli("image", "list")}
    run_cli("image", "set", "--property", "color=blue", "--tag", "t1", "--min-ram", "64", name)
    shown = run_cli("image", "show", name)
    assert shown["properties"]["color"] == "blue"
    assert shown["tags"] == ["t1"]
    assert shown["min_ram"] == 64
    run_cli("image", "unset", "--property", "color", "--tag", "t1", name)
    shown = run_cli("image", "show", name)
    assert "color" not in shown["properties"]
    assert shown["tags"] == []
    saved = tmp_path / "saved.raw"
    run_cli("image", "save", "--file", str(saved), name)
    assert saved.read_bytes() == data
    run_cli("image", "delete", name)
    with pytest.raises(run_cli.Error):
        run_cli("image", "show", name)


def test_sharing_with_the_cli(run_cli, unique):
    name = unique("cli-share")
    image = run_cli("image", "create", "--shared", name)
    member = run_cli("image", "add", "project", name, "demo", json_output=True)
    assert member["status"] == "pending"
    run_cli("image", "set", "--accept", image["id"], cloud="nubo-demo")
    members = run_cli("image", "member", "list", name)
    assert [m["Status"] for m in members] == ["accepted"]
    assert image["id"] in {i["ID"] for i in run_cli("image", "list", cloud="nubo-demo")}
    run_cli("image", "remove", "project", name, "demo")
    assert run_cli("image", "member", "list", name) == []


def test_cli_reports_a_refused_upload(run_cli, unique, tmp_path):
    junk = tmp_path / "junk.qcow2"
    junk.write_bytes(os.urandom(8192))
    with pytest.raises(run_cli.Error) as failed:
        run_cli(
            "image", "create", "--file", str(junk), "--disk-format", "qcow2", unique("junk"),
        )  # fmt: skip
    assert "400" in failed.value.stderr or "qcow2" in failed.value.stderr
