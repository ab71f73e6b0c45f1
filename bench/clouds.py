"""What the benchmarks share: a project-scoped token for an entry of the clouds.yaml
that ``nubo up`` writes into its data directory."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml


def password_token(data_dir: Path, name: str = "nubo") -> tuple[str, str]:
    """A token scoped to the project of clouds.yaml's ``name`` entry, and that project's
    id (password authentication, as the entry's user)."""
    auth = yaml.safe_load((data_dir / "clouds.yaml").read_text())["clouds"][name]["auth"]
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": auth["username"],
                        "domain": {"id": "default"},
                        "password": auth["password"],
                    }
                },
            },
            "scope": {"project": {"name": auth["project_name"], "domain": {"id": "default"}}},
        }
    }
    r = httpx.post(auth["auth_url"] + "/auth/tokens", json=body, timeout=30)
    r.raise_for_status()
    return r.headers["x-subject-token"], r.json()["token"]["project"]["id"]
