"""System tests: root, real namespaces, dnsmasq, QEMU and containers."""
