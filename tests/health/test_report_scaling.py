"""The health report and its HTTP answers cost time in proportion to their size, not to the
square of the number of services, and a 404 does not list every known service."""

from __future__ import annotations

import json
from http import HTTPStatus

from prometheus_client.registry import CollectorRegistry

from queue_collector.admin_http import KNOWN_NAMES_SHOWN, AdminHttpServer
from queue_collector.config import AdminConfig
from queue_collector.health.checks import CheckResult, HealthStatus
from queue_collector.health.report import HealthMonitor, HealthReport

SERVICES = 2000


class CountingResults(tuple):
    """A tuple of results that counts how many items every walk over it has visited."""

    visited = 0

    def __iter__(self):
        for item in super().__iter__():
            CountingResults.visited += 1
            yield item


def many_results(services: int) -> list[CheckResult]:
    results = []
    for index in range(services):
        service = f"svc-{index:05d}"
        status = HealthStatus.DEGRADED if index % 7 == 0 else HealthStatus.HEALTHY
        results.append(CheckResult("telemetry_freshness", status, "fresh", {"stale": "false"}, service=service))
        results.append(CheckResult("message_processing", HealthStatus.HEALTHY, "ok", service=service, queue="orders"))
    return results


class FixedChecks:
    """A check returning prepared results."""

    name = "telemetry_freshness"

    def __init__(self, results: list[CheckResult]) -> None:
        self.results = results

    def evaluate(self, now: float) -> list[CheckResult]:
        return self.results


def admin_server(results: list[CheckResult]) -> AdminHttpServer:
    monitor = HealthMonitor([FixedChecks(results)], cache_seconds=3600.0, clock=lambda: 1_700_000_000.0)
    return AdminHttpServer(AdminConfig(endpoint="127.0.0.1:0"), CollectorRegistry(), monitor, lambda: (True, "ready"))


def test_rendering_every_service_visits_each_result_a_bounded_number_of_times():
    results = many_results(SERVICES)
    report = HealthReport(1_700_000_000.0, CountingResults(results), ("telemetry_freshness", "message_processing"), 0.0)
    CountingResults.visited = 0
    document = report.to_json()
    for service in report.services():
        assert report.service_json(service) is not None
        assert report.queue_json(service, "orders") is not None
    assert report.service_json("unknown") is None
    # Linear: a few passes over the results in all, not one pass per service.
    assert CountingResults.visited <= 5 * len(results)
    assert len(document["services"]) == SERVICES
    assert document["services"]["svc-00007"]["status"] == "degraded"
    assert document["services"]["svc-00001"]["queues"]["orders"]["status"] == "healthy"
    assert document["checks"]["telemetry_freshness"]["status"] == "degraded"


def test_whole_health_document_is_rendered_once_per_report():
    server = admin_server(many_results(50))
    report = server._health.report()
    renders = []
    original = report._render
    object.__setattr__(report, "_render", lambda: renders.append(1) or original())
    first = server.respond("/health", None)
    second = server.respond("/health", None)
    assert first == second
    assert first[0] == HTTPStatus.OK
    assert len(json.loads(first[2])["services"]) == 50
    assert len(renders) == 1


def test_unknown_service_and_queue_404_name_only_a_few_known_ones():
    server = admin_server(many_results(SERVICES))
    code, _, body = server.respond("/health/nope", None)
    document = json.loads(body)
    assert code == HTTPStatus.NOT_FOUND
    assert document["known_services"] == [f"svc-{index:05d}" for index in range(KNOWN_NAMES_SHOWN)]
    assert document["known_services_total"] == SERVICES
    assert len(body) < 2000

    code, _, body = server.respond("/health/svc-00003/nope", None)
    document = json.loads(body)
    assert code == HTTPStatus.NOT_FOUND
    assert document["known_queues"] == ["orders"] and document["known_queues_total"] == 1

    code, _, body = server.respond("/health/svc-00003/orders", None)
    assert code == HTTPStatus.OK and json.loads(body)["status"] == "healthy"
