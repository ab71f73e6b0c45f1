"""nubo: an OpenStack-compatible private cloud."""

__version__ = "0.1.0"
