"""Prometheus metrics for the API: requests by service/route/status and latency."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest


class Metrics:
    """One registry per app, so tests and several apps in a process stay apart."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nubo_api_requests",
            "API requests by service, route, method and status.",
            ["service", "route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nubo_api_request_duration_seconds",
            "API request latency by service and route.",
            ["service", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

    def observe(self, service: str, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(service, route, method, str(status)).inc()
        self.latency.labels(service, route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
