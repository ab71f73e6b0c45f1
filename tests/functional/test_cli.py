"""The nubo command an operator types: status, doctor, config sample, rotate-keys."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any


def test_status_reports_a_running_healthy_cloud(cloud: Any) -> None:
    result = cloud.nubo("status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "running" in result.stdout and "healthy" in result.stdout
    assert "identity" in result.stdout
    assert cloud.base_url in result.stdout
    assert str(cloud.data_dir) in result.stdout


def test_status_of_a_stopped_cloud(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nubo.cli", "status", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 3
    assert "stopped" in result.stdout


def test_doctor_names_every_check(cloud: Any) -> None:
    result = cloud.nubo("doctor")
    assert result.returncode in (0, 1)
    for name in (
        "root",
        "namespaces",
        "nftables",
        "dnsmasq",
        "haproxy",
        "qemu",
        "kvm",
        "cgroups",
        "disk",
    ):
        assert any(line.split()[1:2] == [name] for line in result.stdout.splitlines()), name
    assert "checks without failure" in result.stdout


def test_config_sample_is_valid_toml() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nubo.cli", "config", "sample"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # uncomment every "# key = value" line: the result must parse and hold the defaults
    lines = [
        line[2:] if line.startswith("# ") and " = " in line else line for line in out.splitlines()
    ]
    doc = tomllib.loads("\n".join(line for line in lines if not line.startswith("#")))
    assert doc["api"]["bind"] == "127.0.0.1:8770"
    assert doc["identity"]["password_hash_rounds"] == 12


def test_up_twice_is_harmless(cloud: Any) -> None:
    result = cloud.nubo("up", "--bind", f"127.0.0.1:{cloud.port}", "--detach")
    assert result.returncode == 0
    assert "already running" in result.stdout
    assert cloud.nubo("status").returncode == 0


def test_configured_admin_password_wins_on_restart(cloud_factory: Any) -> None:
    c = cloud_factory()
    c.down()
    c.extra_env["NUBO_IDENTITY_ADMIN_PASSWORD"] = "from-the-config-file"
    c.up()
    assert c.admin_password == "from-the-config-file"  # clouds.yaml follows
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": "admin",
                        "domain": {"id": "default"},
                        "password": "from-the-config-file",
                    }
                },
            }
        }
    }
    import httpx

    r = httpx.post(c.auth_url + "/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201, r.text
    assert "reset from the configuration" in c.log_tail(200)
