"""The network service (Neutron v2.0) and its dataplane."""
