"""Assembling the cloud: data dir, database, keys, bootstrap, services, the ASGI app."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nubo.api.app import NuboApp
from nubo.api.policy import PolicyEngine
from nubo.api.routing import Service
from nubo.compute import policies as compute_policies
from nubo.compute.agent import ComputeAgent
from nubo.compute.api import build_service as compute_service
from nubo.compute.drivers import choose_driver as choose_compute_driver
from nubo.compute.flavors import ensure_default_flavors
from nubo.compute.service import ComputeService
from nubo.config import Config
from nubo.db import migrate
from nubo.db.engine import Database
from nubo.identity import policies as identity_policies
from nubo.identity.api import build_service as identity_service
from nubo.identity.api import versions as identity_versions
from nubo.identity.bootstrap import bootstrap
from nubo.identity.service import Identity
from nubo.image import policies as image_policies
from nubo.image.api import build_service as image_service
from nubo.image.service import ImageService
from nubo.network import metadata
from nubo.network import policies as network_policies
from nubo.network.agent import AgentPlugger, NetworkAgent, choose_driver
from nubo.network.api import build_service as network_service
from nubo.network.bootstrap import bootstrap as network_bootstrap
from nubo.network.service import NetworkService
from nubo.placement import policies as placement_policies
from nubo.placement.api import build_service as placement_service
from nubo.placement.service import PlacementService

log = logging.getLogger(__name__)

Say = Callable[[str], None]


@dataclass(frozen=True)
class ServiceEntry:
    """A service as the catalog lists it."""

    type: str
    name: str
    path: str  # appended to the base URL for the catalog endpoint


CATALOG = [
    ServiceEntry("identity", "keystone", "/identity"),
    ServiceEntry("image", "glance", "/image"),
    ServiceEntry("network", "neutron", "/network"),
    ServiceEntry("compute", "nova", "/compute/v2.1"),
    ServiceEntry("placement", "placement", "/placement"),
]


class Cloud:
    """Everything ``nubo up`` runs in one process."""

    def __init__(self, config: Config, say: Say = lambda _m: None) -> None:
        self.config = config
        self.say = say
        self.data = Path(config.data_dir)
        self.db: Database | None = None
        self.identity: Identity | None = None
        self.image: ImageService | None = None
        self.network: NetworkService | None = None
        self.network_agent: NetworkAgent | None = None
        self.placement: PlacementService | None = None
        self.compute: ComputeService | None = None
        self.compute_agent: ComputeAgent | None = None

    def prepare(self, serving: bool = True) -> None:
        """Idempotent first-start work: directories, schema, keys, bootstrap, catalog.
        ``serving`` (the process that will run the API) also takes over the work a
        stopped process left half done; a one-off command must not."""
        cfg = self.config
        self.data.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.say(f"data directory {self.data}")
        self.db = Database(cfg.database_url)
        self.say(f"database {redact_url(cfg.database_url)} ({self.db.dialect}): migrating")
        migrate.upgrade(self.db.engine)
        self.identity = Identity(cfg, self.db)
        self.identity.setup_keys()
        with self.db.session() as s:
            self.identity.revocations.prune(s)
        self.say("token and credential keys ready")
        saved = self._saved_passwords()
        result = bootstrap(
            self.identity,
            cfg.identity.admin_password or saved.get("nubo", ""),
            cfg.identity.demo_password or saved.get("nubo-demo", ""),
            self.say,
            enforce=frozenset(
                name
                for name, configured in (
                    ("admin", cfg.identity.admin_password),
                    ("demo", cfg.identity.demo_password),
                )
                if configured
            ),
        )
        if serving:
            # a one-off command (nubo image build) does not know where the cloud
            # listens: it leaves the catalog and clouds.yaml to the serving process
            for entry in CATALOG:
                self.identity.catalog.register(
                    entry.type, entry.name, cfg.base_url + entry.path, cfg.identity.region
                )
            self.say("catalog: " + ", ".join(e.type for e in CATALOG))
        self.image = ImageService(cfg, self.db, self.identity)
        self.image.register_limits()
        if serving:
            self.image.resume()
        self.say(f"image store {cfg.image_store_path}")
        self.network = NetworkService(cfg, self.db, self.identity)
        self.metadata_secret = metadata.load_secret(self.data)
        network_bootstrap(self.network, self.say)
        self.placement = PlacementService(cfg, self.db)
        self.compute = ComputeService(
            cfg, self.db, self.identity, self.image, self.network, self.placement
        )
        made = ensure_default_flavors(self.compute)
        if made:
            self.say("flavors: " + ", ".join(made))
        if serving or not self.clouds_yaml.exists():
            self._write_clouds_yaml(result.admin.password, result.demo.password)

    @property
    def clouds_yaml(self) -> Path:
        return self.data / "clouds.yaml"

    @property
    def auth_url(self) -> str:
        return self.config.base_url + "/identity/v3"

    def _saved_passwords(self) -> dict[str, str]:
        try:
            doc = yaml.safe_load(self.clouds_yaml.read_text()) or {}
            return {name: c["auth"]["password"] for name, c in doc.get("clouds", {}).items()}
        except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
            return {}

    def _write_clouds_yaml(self, admin_password: str, demo_password: str) -> None:
        def cloud(user: str, password: str, project: str) -> dict[str, Any]:
            return {
                "auth": {
                    "auth_url": self.auth_url,
                    "username": user,
                    "password": password,
                    "project_name": project,
                    "user_domain_id": "default",
                    "project_domain_id": "default",
                },
                "region_name": self.config.identity.region,
                "interface": "public",
                "identity_api_version": 3,
            }

        doc = {
            "clouds": {
                "nubo": cloud("admin", admin_password, "admin"),
                "nubo-demo": cloud("demo", demo_password, "demo"),
            }
        }
        tmp = self.clouds_yaml.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        os.replace(tmp, self.clouds_yaml)
        self.say(f"credentials written to {self.clouds_yaml}")

    def services(self) -> list[Service]:
        return [
            identity_service(),
            image_service(),
            network_service(),
            compute_service(),
            placement_service(),
            metadata.build_service(),
        ]

    def start_agents(self) -> None:
        """Start the host's dataplane agents (the process that serves the API)."""
        assert self.network is not None, "prepare() first"
        driver = choose_driver(self.config, self.data / "network")
        self.network_agent = NetworkAgent(self.network, driver, self.metadata_secret)
        self.network_agent.start()
        self.say(f"network agent: {driver.name} dataplane")
        assert self.compute is not None
        compute_driver, why = choose_compute_driver(self.config, self.config.instances_path)
        self.compute_agent = ComputeAgent(
            self.compute, compute_driver, AgentPlugger(self.network_agent)
        )
        self.compute_agent.start()
        self.say(f"compute agent: {compute_driver.name} ({why})")

    def app(self) -> NuboApp:
        assert self.identity and self.image and self.network and self.compute, "prepare() first"
        policy = PolicyEngine(self.data / "policy.yaml")
        policy.register(identity_policies.RULES)
        policy.register(image_policies.RULES)
        policy.register(network_policies.RULES)
        policy.register(compute_policies.RULES)
        policy.register(placement_policies.RULES)
        return NuboApp(
            services=self.services(),
            policy=policy,
            authenticator=self.identity.auth,
            max_body_bytes=self.config.api.max_body_bytes,
            root=identity_versions,
            access_log_enabled=self.config.api.access_log,
            trust_forwarded_headers=self.config.api.trust_forwarded_headers,
            state={
                "identity": self.identity,
                "image": self.image,
                "network": self.network,
                "placement": self.placement,
                "compute": self.compute,
                "metadata_secret": self.metadata_secret,
                "config": self.config,
            },
        )

    def close(self) -> None:
        if self.compute_agent is not None:
            self.compute_agent.stop()
        if self.network_agent is not None:
            self.network_agent.stop()
        if self.image is not None:
            self.image.close()
        if self.db is not None:
            self.db.dispose()


def redact_url(url: str) -> str:
    """Hide a password in a database URL."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
