"""The security-group firewall: nftables tables in a dataplane namespace, kept equal
to the ports and groups the driver hands over, one small transaction per change.

``NftFirewall`` remembers, per namespace, the model it last applied
(``nft_rules.Ruleset``) and the numbers it gave out (port indexes, conntrack zones).
``sync`` renders the wanted model, diffs it against the remembered one and sends only
the difference as one ``nft -f -`` transaction: a rule change in a group used by a
thousand ports flushes and refills that group's two chains, nothing per port. The
tables are rebuilt whole (atomically, in one transaction) only when there is no model
yet (first sync after a start) or after a failed transaction. The rule layout is
described in ``nft_rules``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from nubo.network.dataplane import nft_rules
from nubo.network.dataplane.nft_rules import Allocations, NeedRebuild, Ruleset
from nubo.network.dataplane.spec import PortSpec, SecurityGroupSpec

log = logging.getLogger(__name__)

TIMEOUT = 120.0
# br_netfilter (built in) hands bridged IPv4/IPv6 to the inet hooks, where conntrack
# works; the bridge family has no conntrack on these kernels
BRIDGE_SYSCTLS = ("net.bridge.bridge-nf-call-iptables=1", "net.bridge.bridge-nf-call-ip6tables=1")

# (namespace, argv, stdin) -> completed process; replaceable in tests
Runner = Callable[[str, Sequence[str], str | None], subprocess.CompletedProcess[str]]


class FirewallError(RuntimeError):
    """nftables refused the firewall even after a full rebuild."""


class Firewall(Protocol):
    """What the Linux driver calls; ``NftFirewall`` and ``NoFirewall`` provide it."""

    def sync(
        self, namespace: str, ports: Sequence[PortSpec], groups: Sequence[SecurityGroupSpec]
    ) -> None:
        """Make the namespace's filtering match ``ports`` and ``groups``."""

    def purge(self, namespace: str) -> None:
        """Remove the namespace's firewall tables."""


def run_in_namespace(
    namespace: str, argv: Sequence[str], stdin: str | None
) -> subprocess.CompletedProcess[str]:
    """Run a tool inside ``namespace`` (never in the host's: nft there would see the
    host's own ruleset)."""
    if not namespace:
        raise ValueError("the firewall only runs inside a named namespace")
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


@dataclass
class _Applied:
    """What one namespace holds, as far as this process knows."""

    ruleset: Ruleset | None = None  # None: unknown, rebuild on the next sync
    alloc: Allocations = field(default_factory=Allocations)


class NftFirewall:
    """Security groups and anti-spoofing with nftables, applied incrementally."""

    def __init__(self, runner: Runner = run_in_namespace) -> None:
        self._run = runner
        self._lock = threading.Lock()
        self._state: dict[str, _Applied] = {}
        self.transactions = 0  # nft transactions sent, for tests and metrics
        self.rebuilds = 0

    def sync(
        self, namespace: str, ports: Sequence[PortSpec], groups: Sequence[SecurityGroupSpec]
    ) -> None:
        """Make the namespace's nftables filtering match: security groups for
        ``port.filtered`` ports, anti-spoofing for every secured port, nothing for
        ports without port security. Sends only what changed since the last sync."""
        with self._lock:
            state = self._state.get(namespace)
            if state is None:
                state = _Applied(alloc=self._adopt(namespace))
                self._state[namespace] = state
            alloc = nft_rules.allocate(state.alloc, ports)
            wanted = nft_rules.render(ports, groups, alloc)
            if state.ruleset is not None:
                try:
                    commands = nft_rules.diff(state.ruleset, wanted)
                except NeedRebuild as exc:
                    log.info("firewall in %s: rebuilding (%s)", namespace, exc)
                else:
                    error = self._apply(namespace, commands, quiet=True) if commands else None
                    if error is not None:
                        log.warning(
                            "firewall in %s: incremental update of %d commands failed (%s); "
                            "rebuilding the tables",
                            namespace,
                            len(commands),
                            error[:500],
                        )
                    else:
                        state.ruleset, state.alloc = wanted, alloc
                        return
            state.ruleset = None  # stays unknown if the rebuild fails too
            self._rebuild(namespace, wanted)
            state.ruleset, state.alloc = wanted, alloc

    def purge(self, namespace: str) -> None:
        """Delete the namespace's two tables and forget them. A namespace that no
        longer exists has nothing to purge."""
        with self._lock:
            self._state.pop(namespace, None)
            proc = self._run(namespace, ["nft", "-f", "-"], _script(nft_rules.purge_commands()))
            if proc.returncode != 0:
                log.debug("firewall purge in %s: %s", namespace, proc.stderr.strip())

    def _rebuild(self, namespace: str, wanted: Ruleset) -> None:
        proc = self._run(namespace, ["sysctl", "-q", "-w", *BRIDGE_SYSCTLS], None)
        if proc.returncode != 0:
            raise FirewallError(
                f"cannot enable br_netfilter in {namespace} (security groups need it): "
                f"{proc.stderr.strip()}"
            )
        self.rebuilds += 1
        log.info("firewall in %s: full rebuild", namespace)
        self._apply(namespace, nft_rules.rebuild(wanted), quiet=False)

    def _apply(self, namespace: str, commands: list[str], quiet: bool) -> str | None:
        """Send commands as one transaction. On failure: nft's error when quiet, else
        FirewallError."""
        self.transactions += 1
        proc = self._run(namespace, ["nft", "-f", "-"], _script(commands))
        if proc.returncode == 0:
            log.debug("firewall in %s: applied %d commands", namespace, len(commands))
            return None
        error = proc.stderr.strip() or f"nft exited with {proc.returncode}"
        if not quiet:
            raise FirewallError(f"nft in {namespace}: {error[:2000]}")
        return error

    def _adopt(self, namespace: str) -> Allocations:
        """The zones a previous process gave the bridges, so a restart keeps the
        conntrack entries of live connections valid. Empty when there is no table."""
        alloc = Allocations()
        proc = self._run(
            namespace,
            ["nft", "-j", "list", "map", "inet", nft_rules.TABLE, nft_rules.ZONE_MAP],
            None,
        )
        if proc.returncode != 0:
            return alloc
        try:
            for item in json.loads(proc.stdout).get("nftables", []):
                for bridge, zone in item.get("map", {}).get("elem", []):
                    if isinstance(bridge, str) and isinstance(zone, int):
                        alloc.zones[bridge] = zone
        except (ValueError, TypeError, AttributeError):
            log.warning("firewall in %s: unreadable zone map, zones start afresh", namespace)
            return Allocations()
        if alloc.zones:
            alloc.next_zone = max(alloc.zones.values()) % nft_rules.MAX_ZONE + 1
        return alloc


class NoFirewall:
    """A firewall that filters nothing (the fake driver and API tests)."""

    def sync(
        self, namespace: str, ports: Sequence[PortSpec], groups: Sequence[SecurityGroupSpec]
    ) -> None:
        """Do nothing."""

    def purge(self, namespace: str) -> None:
        """Do nothing."""


def _script(commands: Sequence[str]) -> str:
    return "\n".join(commands) + "\n"
