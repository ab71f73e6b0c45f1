"""The ``nubo`` command: up, down, status, doctor, identity rotate-keys, image build,
config sample."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from nubo import __version__
from nubo.config import Config, ConfigError, load, sample

PID_FILE = "nubo.pid"
STATE_FILE = "nubo.state.json"


def _say(message: str) -> None:
    print(f"nubo: {message}", flush=True)


def _config(args: argparse.Namespace) -> Config:
    return load(
        getattr(args, "config", None),
        data_dir=getattr(args, "data_dir", None),
        api__bind=getattr(args, "bind", None),
    )


def _setup_logging(cfg: Config, to_file: bool) -> None:
    handlers: list[logging.Handler] = []
    target = cfg.logging.file or (str(Path(cfg.data_dir) / "nubo.log") if to_file else "")
    handlers.append(logging.FileHandler(target) if target else logging.StreamHandler())
    # alembic narrates its plugin set-up at INFO; nubo prints its own steps
    if cfg.logging.level.upper() != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.basicConfig(
        level=cfg.logging.level.upper(),
        handlers=handlers,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"nubo" in cmdline


def _running_pid(data_dir: Path) -> int | None:
    try:
        pid = int((data_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _healthy(base_url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(base_url + "/healthcheck", timeout=timeout) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _summary(cfg: Config, clouds: Path) -> None:
    _say(f"ready: identity at {cfg.base_url}/identity/v3")
    _say(f"credentials: {clouds} (clouds 'nubo' = admin, 'nubo-demo' = demo)")
    beside = Path(sys.executable).parent / "openstack"  # the venv's client
    openstack = str(beside) if beside.exists() else "openstack"
    _say("try:")
    print(
        f"    export OS_CLIENT_CONFIG_FILE={clouds}\n"
        f"    {openstack} --os-cloud nubo token issue\n"
        f"    {openstack} --os-cloud nubo project list",
        flush=True,
    )


def cmd_up(args: argparse.Namespace) -> int:
    cfg = _config(args)
    data = Path(cfg.data_dir)
    pid = _running_pid(data)
    if pid:
        _say(f"already running (pid {pid}) with data dir {data}")
        _summary(cfg, data / "clouds.yaml")
        return 0
    if args.detach:
        return _detach(args, cfg)
    started = time.monotonic()
    _setup_logging(cfg, to_file=False)
    from nubo.cloud import Cloud

    cloud = Cloud(cfg, _say)
    try:
        cloud.prepare()
    except Exception as exc:
        _say(f"could not start: {exc}")
        logging.getLogger(__name__).debug("start failed", exc_info=True)
        return 1
    app = cloud.app()
    cloud.start_agents()
    (data / PID_FILE).write_text(f"{os.getpid()}\n")
    (data / STATE_FILE).write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "started_at": time.time(),
                "bind": cfg.api.bind,
                "base_url": cfg.base_url,
                "version": __version__,
                "services": [s.name for s in app.services],
            }
        )
    )
    _say(f"listening on {cfg.api.bind} (prepared in {time.monotonic() - started:.1f}s)")
    _summary(cfg, cloud.clouds_yaml)
    try:
        _serve(app, cfg)
    finally:
        cloud.close()
        for name in (PID_FILE, STATE_FILE):
            (data / name).unlink(missing_ok=True)
    return 0


def _serve(app: Any, cfg: Config) -> None:
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=cfg.bind_host,
            port=cfg.bind_port,
            log_config=None,
            access_log=False,
            lifespan="on",
            server_header=False,
            # uvicorn would take X-Forwarded-* from any loopback client otherwise
            proxy_headers=cfg.api.trust_forwarded_headers,
        )
    )
    server.run()


def _detach(args: argparse.Namespace, cfg: Config) -> int:
    data = Path(cfg.data_dir)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    cmd = [sys.executable, "-m", "nubo.cli", "up", "--data-dir", str(data), "--bind", cfg.api.bind]
    if args.config:
        cmd += ["--config", args.config]
    log_path = Path(cfg.logging.file) if cfg.logging.file else data / "nubo.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            cmd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _say(f"started in the background (pid {proc.pid}); log: {log_path}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _say(f"the cloud exited with code {proc.returncode}; see {log_path}")
            return 1
        if _healthy(cfg.base_url, timeout=0.5):
            _summary(cfg, data / "clouds.yaml")
            return 0
        time.sleep(0.1)
    _say(f"not ready after 60 s; see {log_path}")
    return 1


def cmd_down(args: argparse.Namespace) -> int:
    cfg = _config(args)
    data = Path(cfg.data_dir)
    pid = _running_pid(data)
    if pid is None:
        _say(f"not running (data dir {data})")
        return _purge(cfg) if args.purge else 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.1)
    if _pid_alive(pid):
        _say(f"pid {pid} did not stop in 20 s: killing it")
        os.kill(pid, signal.SIGKILL)
    for name in (PID_FILE, STATE_FILE):
        (data / name).unlink(missing_ok=True)
    _say(f"stopped (pid {pid})")
    return _purge(cfg) if args.purge else 0


def _purge(cfg: Config) -> int:
    """Remove the dataplane nubo built: running instances end (their disks stay) and
    the network goes; a restart rebuilds both from the database."""
    from nubo.compute.drivers import choose_driver as choose_compute_driver
    from nubo.compute.drivers.base import DriverError
    from nubo.network.agent import choose_driver

    try:
        compute, _why = choose_compute_driver(cfg, cfg.instances_path)
    except DriverError as exc:
        _say(f"instances left alone: {exc}")
    else:
        instances = compute.list_instances()
        for instance_id in instances:
            compute.destroy(instance_id, _Unplugged(), keep_disks=True)
        _say(f"instances stopped: {len(instances)} ({compute.name} driver)")
    driver = choose_driver(cfg, Path(cfg.data_dir) / "network")
    driver.purge()
    _say(f"dataplane purged ({driver.name} driver)")
    return 0


class _Unplugged:
    """Purge removes every link with the dataplane: instances need not unplug first."""

    def plug(self, port_id: str, kind: str, netns: str | None = None) -> str:
        raise RuntimeError("nothing is plugged while purging")

    def unplug(self, port_id: str) -> None:
        return None

    def dataplane_namespace(self) -> str | None:
        return None


def cmd_status(args: argparse.Namespace) -> int:
    cfg = _config(args)
    data = Path(cfg.data_dir)
    pid = _running_pid(data)
    try:
        state = json.loads((data / STATE_FILE).read_text())
    except (OSError, ValueError):
        state = {}
    print(f"nubo {__version__}")
    print(f"data dir:  {data}")
    from nubo.cloud import redact_url

    print(f"database:  {redact_url(cfg.database_url)}")
    if pid is None:
        print("state:     stopped")
        return 3
    base_url = str(state.get("base_url", cfg.base_url))
    healthy = _healthy(base_url)
    uptime = time.time() - float(state.get("started_at", time.time()))
    print(f"state:     running (pid {pid}), {'healthy' if healthy else 'NOT answering'}")
    print(f"uptime:    {int(uptime // 3600)}h {int(uptime % 3600 // 60)}m {int(uptime % 60)}s")
    print(f"endpoint:  {base_url}")
    print(f"services:  {', '.join(state.get('services', []))}")
    return 0 if healthy else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    cfg = _config(args)
    from nubo.doctor import FAIL, run_checks

    checks = run_checks(Path(cfg.data_dir), cfg)
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{c.status.upper():4}  {c.name:<{width}}  {c.detail}")
    failed = [c for c in checks if c.status == FAIL]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} checks without failure.")
    return 1 if failed else 0


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    cfg = _config(args)
    from nubo.identity.tokens import KeyRepository

    repo = KeyRepository(
        Path(cfg.data_dir) / "identity" / "fernet-keys", cfg.identity.max_active_keys
    )
    repo.setup()
    primary = repo.rotate()
    _say(f"rotated token keys: key {primary} is now primary; running processes pick it up")
    return 0


def cmd_image_build(args: argparse.Namespace) -> int:
    """Build a guest image (cached in the data dir) and register it as a public image."""
    cfg = _config(args)
    from nubo.cloud import Cloud
    from nubo.image import guest
    from nubo.image.register import register_guest_image

    build = {"tiny": guest.build_tiny, "debian": guest.build_debian}[args.kind]
    cache = Path(cfg.data_dir) / "guest-images"
    cache.mkdir(parents=True, exist_ok=True)
    try:
        path = build(cache, _say)
    except guest.GuestImageError as exc:
        print(f"nubo: could not build the {args.kind} image: {exc}", file=sys.stderr)
        return 1
    _say(f"image file {path} ({path.stat().st_size / 1e6:.1f} MB)")
    if args.no_register:
        return 0
    _setup_logging(cfg, to_file=True)
    cloud = Cloud(cfg)
    try:
        cloud.prepare(serving=False)
        assert cloud.image is not None
        properties = {**guest.IMAGE_PROPERTIES, "os_distro": f"nubo-{args.kind}"}
        image_id, created = register_guest_image(cloud.image, f"nubo-{args.kind}", path, properties)
    finally:
        cloud.close()
    _say(f"image nubo-{args.kind} {'registered' if created else 'already registered'}: {image_id}")
    return 0


def cmd_config_sample(args: argparse.Namespace) -> int:
    print(sample())
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nubo", description="An OpenStack-compatible cloud.")
    p.add_argument("--version", action="version", version=f"nubo {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data-dir", help="data directory (default /var/lib/nubo)")
        sp.add_argument("--config", help="nubo.toml (default <data-dir>/nubo.toml)")

    up = sub.add_parser("up", help="start the whole cloud in one process")
    common(up)
    up.add_argument("--bind", help="HOST:PORT to listen on (default 127.0.0.1:8770)")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.set_defaults(func=cmd_up)

    for name, func, text in (
        ("down", cmd_down, "stop a detached cloud"),
        ("status", cmd_status, "show what runs"),
        ("doctor", cmd_doctor, "check what this host can run"),
    ):
        sp = sub.add_parser(name, help=text)
        common(sp)
        sp.add_argument("--bind", help=argparse.SUPPRESS)
        if name == "down":
            sp.add_argument(
                "--purge",
                action="store_true",
                help="also remove every namespace, link, rule and process of the dataplane",
            )
        sp.set_defaults(func=func)

    ident = sub.add_parser("identity", help="identity maintenance")
    isub = ident.add_subparsers(dest="identity_command", required=True)
    rot = isub.add_parser("rotate-keys", help="rotate the Fernet token keys")
    common(rot)
    rot.set_defaults(func=cmd_rotate_keys)

    img = sub.add_parser("image", help="guest images")
    imsub = img.add_subparsers(dest="image_command", required=True)
    bld = imsub.add_parser("build", help="build a guest image and register it (public)")
    common(bld)
    bld.add_argument("kind", choices=["tiny", "debian"], help="which image")
    bld.add_argument("--no-register", action="store_true", help="only build the file")
    bld.set_defaults(func=cmd_image_build)

    conf = sub.add_parser("config", help="configuration helpers")
    csub = conf.add_subparsers(dest="config_command", required=True)
    smp = csub.add_parser("sample", help="print a nubo.toml with every option")
    smp.set_defaults(func=cmd_config_sample)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"nubo: configuration error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
