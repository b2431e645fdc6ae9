import pytest

from tests.support.processes import Collector, run_demo

SERVICE = "e2e-demo"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One receiver, one demo run exporting straight to it (the embedded default)."""
    tmp_path = tmp_path_factory.mktemp("demo")
    collector = Collector(tmp_path)
    try:
        truth = run_demo(tmp_path, collector.otlp_endpoint, duration=3, rate=80, service=SERVICE)
        yield collector, truth
    finally:
        collector.stop()
