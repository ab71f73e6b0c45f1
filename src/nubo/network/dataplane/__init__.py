"""The network dataplane: desired-state specs and the drivers that realise them."""
