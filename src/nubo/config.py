"""The one nubo configuration: a TOML file plus ``NUBO_<SECTION>_<KEY>`` overrides.

Every option has a default that works on one machine. The configuration is parsed
once at start (``load``) and passed down explicitly; nothing reads it at import.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """The configuration file or an override is not valid."""


def _opt(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass
class ApiConfig:
    bind: str = _opt("127.0.0.1:8770", "HOST:PORT the single API listener binds to.")
    public_url: str = _opt(
        "",
        "Base URL clients use to reach the API (catalog endpoints are built from it). "
        "Empty: http://<bind>.",
    )
    max_body_bytes: int = _opt(1048576, "Largest JSON request body accepted, in bytes.")
    access_log: bool = _opt(True, "Write one log line per request.")
    trust_forwarded_headers: bool = _opt(
        False,
        "Build links from X-Forwarded-Proto/-Host (only behind a proxy that sets them).",
    )


@dataclass
class DatabaseConfig:
    url: str = _opt(
        "",
        "SQLAlchemy URL of the database. Empty: SQLite (WAL) at <data_dir>/nubo.db. "
        "postgresql://user:pass@host/db runs nubo on PostgreSQL.",
    )


@dataclass
class IdentityConfig:
    region: str = _opt("RegionOne", "Region the catalog endpoints are registered in.")
    admin_password: str = _opt(
        "", "Password of the bootstrap admin user. Empty: generated once and kept."
    )
    demo_password: str = _opt(
        "", "Password of the bootstrap demo user. Empty: generated once and kept."
    )
    token_expiration: int = _opt(3600, "Lifetime of a token, in seconds.")
    allow_expired_window: int = _opt(
        172800, "Seconds after expiry a service may still validate a token with allow_expired."
    )
    password_hash_rounds: int = _opt(12, "bcrypt cost factor for stored passwords.")
    max_active_keys: int = _opt(3, "Fernet keys kept in the key repository (rotation).")
    token_cache_size: int = _opt(10000, "Validated tokens kept in memory per process.")
    token_cache_seconds: int = _opt(
        300, "How long a validated token stays cached in a process that did not see a change."
    )
    password_cache_size: int = _opt(
        1024,
        "Successful password checks remembered in memory (keyed by an HMAC under a "
        "per-process secret), so repeated logins skip bcrypt. 0 disables.",
    )
    minimum_password_age: int = _opt(0, "Days a user must keep a password before changing it.")
    unique_last_password_count: int = _opt(
        0,
        "When changing their own password, users may not reuse any of their last N "
        "passwords (the current one included); 0 or 1 turns the check off.",
    )
    lockout_failure_attempts: int = _opt(
        0, "Failed password logins in a row that lock a user out; 0 never locks."
    )
    lockout_duration: int = _opt(1800, "Seconds a locked-out user stays locked.")
    password_expires_days: int = _opt(0, "Days a password stays valid; 0 never expires.")


@dataclass
class ImageConfig:
    store_dir: str = _opt("", "Directory of the file image store. Empty: <data_dir>/images.")
    web_download_allowed_hosts: str = _opt(
        "",
        "Comma-separated host names the web-download import method may fetch from. "
        "Empty: web-download is off.",
    )
    member_quota: int = _opt(128, "Members one image may have.")
    tag_quota: int = _opt(128, "Tags one image may have.")
    property_quota: int = _opt(128, "Custom properties one image may have.")


@dataclass
class NetworkConfig:
    driver: str = _opt(
        "auto",
        "Dataplane driver: linux (namespaces, bridges, nftables, dnsmasq), fake (records "
        "the desired state only, for API tests) or auto (linux when running as root with "
        "the tools present, else fake with a warning).",
    )
    host: str = _opt("", "Name of this host for port bindings. Empty: the system host name.")
    physical_network: str = _opt(
        "public", "Name of the one flat physical network (where external networks live)."
    )
    external_host_address: str = _opt(
        "",
        "CIDR given to the host's end of a link into the external network's namespace "
        "(DevStack uses 172.24.4.1/24). Empty: the host is not joined and no packet leaves "
        "the namespaces.",
    )
    external_uplink: str = _opt(
        "", "Host interface to move into the external bridge as its uplink. Empty: none."
    )
    vxlan_local_ip: str = _opt(
        "198.18.0.1/24",
        "VTEP address (CIDR) of this host on the underlay bridge in the nubo-underlay namespace.",
    )
    vxlan_peers: str = _opt("", "Comma-separated VTEP addresses of the other hosts.")
    vni_ranges: str = _opt("1:1000", "VXLAN ids given to project networks, as MIN:MAX.")
    physical_mtu: int = _opt(1500, "MTU of the underlay and of flat networks.")
    dns_domain: str = _opt("openstacklocal", "Domain dnsmasq serves instance names in.")
    dns_servers: str = _opt(
        "",
        "Comma-separated upstream resolvers for the networks' dnsmasq. Empty: --no-resolv "
        "(instance names only).",
    )
    resync_seconds: int = _opt(60, "How often the agent re-reads everything (lost wake-ups).")


@dataclass
class ComputeConfig:
    driver: str = _opt(
        "auto",
        "Instance driver: qemu (KVM when /dev/kvm runs guests, else TCG), container "
        "(namespaces, overlayfs, cgroups), fake (no guest, for API tests) or auto (KVM, "
        "then containers, then TCG; `nubo doctor` says which and why).",
    )
    host: str = _opt("", "Name of this compute host. Empty: the network host name.")
    availability_zone: str = _opt("nova", "Availability zone of this host.")
    instances_dir: str = _opt(
        "", "Directory of instance disks and logs. Empty: <data_dir>/instances."
    )
    vcpus: int = _opt(0, "vCPUs this host offers. 0: the host's CPU count.")
    memory_mb: int = _opt(0, "Memory this host offers, in MiB. 0: the host's total memory.")
    disk_gb: int = _opt(0, "Disk this host offers, in GiB. 0: the instances directory's size.")
    reserved_host_memory_mb: int = _opt(256, "Memory kept back for the host, in MiB.")
    cpu_allocation_ratio: float = _opt(4.0, "vCPUs placed per host CPU.")
    ram_allocation_ratio: float = _opt(1.0, "Memory placed per MiB of host memory.")
    disk_allocation_ratio: float = _opt(1.0, "Disk placed per GiB of host disk.")
    weigher: str = _opt("spread", "Scheduler weigher: spread (emptiest host) or pack (fullest).")
    build_retries: int = _opt(2, "Other hosts a failed build is retried on before ERROR.")
    build_timeout: int = _opt(300, "Seconds a server may stay in BUILD before it goes to ERROR.")
    action_timeout: int = _opt(
        180, "Seconds any other task (reboot, resize, snapshot ...) may run before it is ended."
    )
    force_config_drive: bool = _opt(False, "Give every instance a config drive.")
    console_log_bytes: int = _opt(1048576, "Console log kept per instance, in bytes (newest).")
    resync_seconds: int = _opt(30, "How often the compute agent re-reads every instance.")


@dataclass
class LoggingConfig:
    level: str = _opt("INFO", "Log level: DEBUG, INFO, WARNING or ERROR.")
    file: str = _opt("", "Log file. Empty: <data_dir>/nubo.log when detached, else stderr.")


@dataclass
class Config:
    data_dir: str = _opt("/var/lib/nubo", "Directory holding the database, keys and files.")
    api: ApiConfig = field(default_factory=ApiConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_path / 'nubo.db'}"

    @property
    def image_store_path(self) -> Path:
        return Path(self.image.store_dir) if self.image.store_dir else self.data_path / "images"

    @property
    def instances_path(self) -> Path:
        c = self.compute
        return Path(c.instances_dir) if c.instances_dir else self.data_path / "instances"

    @property
    def compute_host(self) -> str:
        return self.compute.host or self.network.host or socket.gethostname()

    @property
    def bind_host(self) -> str:
        return self.api.bind.rsplit(":", 1)[0]

    @property
    def bind_port(self) -> int:
        return int(self.api.bind.rsplit(":", 1)[1])

    @property
    def base_url(self) -> str:
        if self.api.public_url:
            return self.api.public_url.rstrip("/")
        host = self.bind_host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.bind_port}"


def _sections(cfg: Config) -> dict[str, Any]:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name != "data_dir"}


def _coerce(value: Any, kind: Any, where: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str and isinstance(value, str):
        return value
    raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")


def _set(section: Any, key: str, value: Any, where: str) -> None:
    hints = typing.get_type_hints(type(section))
    names = {f.name for f in dataclasses.fields(section)}
    if key not in names:
        raise ConfigError(f"{where}: unknown option")
    setattr(section, key, _coerce(value, hints[key], where))


def load(
    path: str | os.PathLike[str] | None = None,
    env: typing.Mapping[str, str] | None = None,
    **overrides: Any,
) -> Config:
    """Build the configuration from defaults, the TOML file, the environment and overrides.

    ``overrides`` take dotted keys with ``__`` for the dot (``api__bind="..."``) and
    win over everything; they carry command-line flags.
    """
    env = os.environ if env is None else env
    cfg = Config()
    data_dir = overrides.pop("data_dir", None) or env.get("NUBO_DATA_DIR")
    if data_dir:
        cfg.data_dir = str(data_dir)
    if path is None:
        path = env.get("NUBO_CONFIG") or (Path(cfg.data_dir) / "nubo.toml")
        if not Path(path).exists():
            path = None
    if path is not None:
        try:
            doc = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        sections = _sections(cfg)
        for name, values in doc.items():
            if name == "data_dir" and not data_dir:
                cfg.data_dir = _coerce(values, str, "data_dir")
                continue
            if name not in sections or not isinstance(values, dict):
                raise ConfigError(f"{path}: unknown section [{name}]")
            for key, value in values.items():
                _set(sections[name], key, value, f"{path}: {name}.{key}")
    for name, section in _sections(cfg).items():
        for f in dataclasses.fields(section):
            var = f"NUBO_{name}_{f.name}".upper()
            if var in env:
                _set(section, f.name, env[var], var)
    for dotted, value in overrides.items():
        if value is None:
            continue
        name, key = dotted.split("__", 1)
        _set(_sections(cfg)[name], key, value, f"--{name}.{key}")
    if ":" not in cfg.api.bind:
        raise ConfigError(f"api.bind: expected HOST:PORT, got {cfg.api.bind!r}")
    try:
        cfg.bind_port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ConfigError(f"api.bind: bad port in {cfg.api.bind!r}") from exc
    return cfg


def sample() -> str:
    """Render a commented ``nubo.toml`` holding every option at its default."""
    cfg = Config()
    lines = ["# nubo.toml: every option, at its default. Environment: NUBO_<SECTION>_<KEY>.", ""]
    top = dataclasses.fields(cfg)[0]
    lines += [f"# {top.metadata['doc']}", f"# data_dir = {_toml(cfg.data_dir)}", ""]
    for name, section in _sections(cfg).items():
        lines.append(f"[{name}]")
        for f in dataclasses.fields(section):
            lines.append(f"# {f.metadata['doc']}")
            lines.append(f"# {f.name} = {_toml(getattr(section, f.name))}")
        lines.append("")
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
