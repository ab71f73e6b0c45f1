"""dnsmasq's files and command line for a network (no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

from nubo.network.dataplane import dnsmasq
from nubo.network.dataplane.dnsmasq import (
    Supervisor,
    command_line,
    dhcp_subnets,
    render_addn_hosts,
    render_files,
    render_hosts,
    render_opts,
    write_if_changed,
)
from nubo.network.dataplane.spec import DhcpOption, FixedIp, NetworkSpec, PortSpec, SubnetSpec

V4 = SubnetSpec(
    "s4",
    "10.0.0.0/24",
    4,
    "10.0.0.1",
    True,
    host_routes=(("192.168.0.0/16", "10.0.0.254"),),
)
V4B = SubnetSpec("s4b", "10.1.0.0/24", 4, None, True, dns_nameservers=("9.9.9.9", "2001:db8::53"))
V4OFF = SubnetSpec("s4off", "10.2.0.0/24", 4, "10.2.0.1", False)
V6 = SubnetSpec("s6", "2001:db8::/64", 6, "2001:db8::1", True, ipv6_address_mode="dhcpv6-stateful")
V6STATELESS = SubnetSpec(
    "s6l", "2001:db9::/64", 6, None, True, ipv6_address_mode="dhcpv6-stateless"
)
SLAAC = SubnetSpec("s6s", "2001:dba::/64", 6, None, True, ipv6_address_mode="slaac")

DHCP = PortSpec(
    "dhcp",
    "n",
    "FA:16:3E:00:00:02",
    (FixedIp("s4", "10.0.0.2"), FixedIp("s4b", "10.1.0.2"), FixedIp("s6", "2001:db8::2")),
)
VM = PortSpec(
    "vm1",
    "n",
    "fa:16:3e:00:00:11",
    (
        FixedIp("s4", "10.0.0.11"),
        FixedIp("s6", "2001:db8::11"),
        FixedIp("s6l", "2001:db9::11"),
        FixedIp("s4off", "10.2.0.11"),
    ),
    hostname="web-1",
    extra_dhcp_opts=(
        DhcpOption("bootfile-name", "pxelinux.0"),
        DhcpOption("66", "10.0.0.5"),
        DhcpOption("dns-server", "[2001:db8::99]", 6),
    ),
)
NOHOST = PortSpec("vm2", "n", "fa:16:3e:00:00:12", (FixedIp("s4b", "10.1.0.12"),))


def net(*subnets: SubnetSpec) -> NetworkSpec:
    return NetworkSpec(
        "n",
        "vxlan",
        5,
        1450,
        False,
        True,
        subnets,
        dhcp_port=DHCP,
        hosts=(VM, NOHOST, DHCP),
        dns_domain="example.org.",
    )


ALL = net(V4, V4B, V4OFF, V6, V6STATELESS, SLAAC)


def test_served_subnets_exclude_disabled_and_slaac() -> None:
    assert [s.id for s in dhcp_subnets(ALL)] == ["s4", "s4b", "s6", "s6l"]


def test_hosts_file_has_a_static_entry_per_dhcp_address() -> None:
    # only ports with extra DHCP options are tagged (dnsmasq 2.90 crashes on a SIGHUP
    # once a tagged host holds a lease, so tags are kept to the ports that need them)
    assert render_hosts(ALL).splitlines() == [
        "fa:16:3e:00:00:02,10.0.0.2,host-10-0-0-2",
        "fa:16:3e:00:00:02,10.1.0.2,host-10-1-0-2",
        "fa:16:3e:00:00:02,[2001:db8::2],host-2001-db8--2",
        "fa:16:3e:00:00:11,set:port-vm1,10.0.0.11,web-1",
        "fa:16:3e:00:00:11,set:port-vm1,[2001:db8::11],web-1",
        "fa:16:3e:00:00:12,10.1.0.12,host-10-1-0-12",
    ]


def test_addn_hosts_names_every_fixed_ip_for_dns() -> None:
    lines = render_addn_hosts(ALL).splitlines()
    assert "10.0.0.11\tweb-1.example.org web-1" in lines
    assert "10.2.0.11\tweb-1.example.org web-1" in lines  # DHCP off, DNS still on
    assert "2001:db9::11\tweb-1.example.org web-1" in lines


def test_options_per_subnet_and_per_port() -> None:
    opts = render_opts(ALL).splitlines()
    assert opts[:5] == [
        "tag:subnet-s4,option:dns-server,10.0.0.2",
        "tag:subnet-s4,option:router,10.0.0.1",
        "tag:subnet-s4,option:mtu,1450",
        "tag:subnet-s4,option:classless-static-route,169.254.169.254/32,10.0.0.2,"
        "192.168.0.0/16,10.0.0.254,10.1.0.0/24,0.0.0.0,10.2.0.0/24,0.0.0.0,0.0.0.0/0,10.0.0.1",
        "tag:subnet-s4,249,169.254.169.254/32,10.0.0.2,192.168.0.0/16,10.0.0.254,"
        "10.1.0.0/24,0.0.0.0,10.2.0.0/24,0.0.0.0,0.0.0.0/0,10.0.0.1",
    ]
    # no gateway: an empty router option, routes without a default
    assert "tag:subnet-s4b,option:dns-server,9.9.9.9" in opts
    assert "tag:subnet-s4b,option:router" in opts
    assert any(
        o.startswith("tag:subnet-s4b,option:classless-static-route,169.254.169.254/32,10.1.0.2")
        and "0.0.0.0/0" not in o
        for o in opts
    )
    assert "tag:subnet-s6,option6:dns-server,[2001:db8::2]" in opts
    assert "tag:subnet-s6,option6:domain-search,example.org" in opts
    assert opts[-3:] == [
        "tag:port-vm1,option:bootfile-name,pxelinux.0",
        "tag:port-vm1,66,10.0.0.5",
        "tag:port-vm1,option6:dns-server,[2001:db8::99]",
    ]


def test_values_cannot_break_out_of_their_line() -> None:
    evil = PortSpec(
        "e",
        "n",
        "fa:16:3e:00:00:13",
        (FixedIp("s4", "10.0.0.13"),),
        hostname="x\ndhcp-range=bad",
        extra_dhcp_opts=(DhcpOption("6", "1.1.1.1\nx"),),
    )
    network = NetworkSpec("n", "flat", None, 1500, False, True, (V4,), DHCP, hosts=(evil,))
    for text in render_files(network).values():
        assert all(line.startswith(("fa:", "tag:", "10.")) for line in text.splitlines())


def test_command_line(tmp_path: Path) -> None:
    argv = command_line(ALL, "nubodx", tmp_path / "n")
    assert argv[0] == "dnsmasq"
    for arg in (
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--interface=nubodx",
        "--except-interface=lo",
        "--domain=example.org",
        "--conf-file=/dev/null",
        f"--dhcp-hostsfile={tmp_path}/n/host",
        f"--dhcp-optsfile={tmp_path}/n/opts",
        f"--pid-file={tmp_path}/n/pid",
        f"--dhcp-leasefile={tmp_path}/n/leases",
        "--dhcp-range=set:subnet-s4,10.0.0.0,static,255.255.255.0,86400",
        "--dhcp-range=set:subnet-s6,2001:db8::,static,64,86400",
        "--dhcp-range=set:subnet-s6l,2001:db9::,static,64,86400",
    ):
        assert arg in argv, arg
    assert not any("s6s" in a or "s4off" in a for a in argv)
    upstream = command_line(ALL, "nubodx", tmp_path, dns_servers=("192.0.2.53",), lease_seconds=600)
    assert "--no-resolv" not in upstream and "--server=192.0.2.53" in upstream
    assert "--dhcp-range=set:subnet-s4,10.0.0.0,static,255.255.255.0,600" in upstream


def test_write_if_changed(tmp_path: Path) -> None:
    path = tmp_path / "host"
    assert write_if_changed(path, "a\n")
    mtime = os.stat(path).st_mtime_ns
    assert not write_if_changed(path, "a\n")
    assert os.stat(path).st_mtime_ns == mtime
    assert write_if_changed(path, "b\n") and path.read_text() == "b\n"
    assert [p.name for p in tmp_path.iterdir()] == ["host"]


def test_only_dnsmasq_with_a_pid_file_in_our_state_dir_is_ours(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    assert sup._network_of(["dnsmasq", f"--pid-file={tmp_path}/net-1/pid"]) == "net-1"
    assert sup._network_of(["/usr/sbin/dnsmasq", "-x", f"--pid-file={tmp_path}/n2/pid"]) == "n2"
    assert sup._network_of(["dnsmasq", "--pid-file=/tmp/other/n/pid"]) is None
    assert sup._network_of(["dnsmasq", f"--pid-file={tmp_path}/a/b/pid"]) is None
    assert sup._network_of(["sleep", f"--pid-file={tmp_path}/n/pid"]) is None
    assert sup.running() == {}  # nothing of ours runs here


def test_stale_leases_are_those_the_hosts_file_no_longer_pairs(tmp_path: Path) -> None:
    (tmp_path / dnsmasq.LEASES_FILE).write_text(
        "1700000000 fa:16:3e:00:00:01 10.0.0.3 vm-old *\n"
        "1700000000 fa:16:3e:00:00:02 10.0.0.4 vm-kept *\n"
        "1700000000 fa:16:3e:00:00:03 10.0.0.5 vm-gone *\n"
        "duid 00:01:00:01\n"
        "1700000000 1234 fd00::5 vm6 00:01\n"
    )
    hosts = (
        "fa:16:3e:00:00:09,10.0.0.3,vm-new\n"  # the address went to a new port
        "fa:16:3e:00:00:02,set:port-x,10.0.0.4,vm-kept\n"
    )
    stale = dnsmasq.stale_leases(tmp_path, hosts)
    assert stale == [("fa:16:3e:00:00:01", "10.0.0.3"), ("fa:16:3e:00:00:03", "10.0.0.5")]
    dnsmasq.drop_leases(tmp_path, stale)
    left = (tmp_path / dnsmasq.LEASES_FILE).read_text()
    assert "10.0.0.3" not in left and "10.0.0.5" not in left
    assert "10.0.0.4" in left and "fd00::5" in left
