"""The local stack (otel-config/compose.yaml) and the receiver's Dockerfile hang together: every
file they mount, build or copy exists, images are pinned official ones, and the ports, hosts and
commands on either side of each connection agree. No Docker engine is needed."""

from __future__ import annotations

import re
import shlex
import tomllib

import pytest
import yaml

from deployment_support import OTEL_CONFIG, REPO

COMPOSE_FILE = OTEL_CONFIG / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"

#: Official images each service must use (the receiver is built from the Dockerfile).
OFFICIAL_IMAGES = {
    "otel-collector": "otel/opentelemetry-collector-contrib",
    "jaeger": "jaegertracing/jaeger",
    "prometheus": "prom/prometheus",
    "grafana": "grafana/grafana",
}
#: Collector configurations compose can mount through COLLECTOR_CONFIG.
COLLECTOR_CONFIGS = ("collector.yaml", "collector-loadbalancing.yaml")
_INTERPOLATION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def _interpolate(text: str, overrides: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in overrides:
            return overrides[name]
        assert default is not None, f"${{{name}}} has no default in compose.yaml"
        return default

    return _INTERPOLATION.sub(replace, text)


def _flags(command: list[str]) -> dict[str, str]:
    return dict(argument.removeprefix("--").split("=", 1) for argument in command if "=" in argument)


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.removeprefix("http://").rpartition(":")
    return host, int(port)


@pytest.mark.parametrize("collector_config", COLLECTOR_CONFIGS)
def test_every_mounted_and_built_file_exists(compose: dict, collector_config: str) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source, target = _interpolate(volume, {"COLLECTOR_CONFIG": collector_config}).split(":")[:2]
            if source.startswith("."):
                assert (OTEL_CONFIG / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in compose["volumes"], f"{name}: named volume {source} is not declared"
            assert target.startswith("/"), f"{name}: {target}"
        if "build" in service:
            context = (OTEL_CONFIG / service["build"]["context"]).resolve()
            assert context == REPO
            assert (context / service["build"]["dockerfile"]).is_file()


def test_the_header_names_a_collector_config_that_exists() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for name in re.findall(r"COLLECTOR_CONFIG=(\S+)", text):
        assert (OTEL_CONFIG / name).is_file(), name


def test_images_are_pinned_official_images(compose: dict) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            continue  # built here from the Dockerfile, tagged locally
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"
        if name in OFFICIAL_IMAGES:
            assert repository == OFFICIAL_IMAGES[name], f"{name}: {image}"
    assert compose["services"]["jaeger"]["image"].split(":")[1].startswith("2."), "Jaeger v2 (OTLP)"
    assert "build" in compose["services"]["queue-collector"]


def test_collector_and_receiver_agree_on_addresses(compose: dict) -> None:
    services = compose["services"]
    collector, receiver = services["otel-collector"], services["queue-collector"]
    receiver_flags = _flags(receiver["command"])
    assert receiver_flags["otlp-endpoint"] == "0.0.0.0:4317"
    assert receiver_flags["admin-endpoint"] == "0.0.0.0:9464"
    # The collector sends to the receiver's OTLP port by its service name.
    host, port = _host_port(collector["environment"]["QUEUE_RECEIVER_ENDPOINT"])
    assert (host, port) == ("queue-collector", _host_port(receiver_flags["otlp-endpoint"])[1])
    assert collector["environment"]["QUEUE_RECEIVER_HEADLESS_SERVICE"] == "queue-collector"
    # Traces go to Jaeger's OTLP gRPC port.
    assert _host_port(receiver_flags["traces-endpoint"]) == ("jaeger", 4317)
    # The collector reads the mounted configuration, and its queue lives on the volume.
    config_path = _flags(collector["command"])["config"]
    mounts = [_interpolate(volume, {}).split(":") for volume in collector["volumes"]]
    assert any(target == config_path for _, target, *_ in mounts)
    for name in COLLECTOR_CONFIGS:
        config = yaml.safe_load((OTEL_CONFIG / name).read_text(encoding="utf-8"))
        directory = config["extensions"]["file_storage/sending_queue"]["directory"]
        assert any(target == directory for source, target, *_ in mounts if source == "collector-queue")
        telemetry = config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
        assert telemetry["port"] == 8888
    init = services["collector-queue-init"]
    assert init["command"][:3] == ["chown", "-R", "10001:10001"]
    assert collector["depends_on"]["collector-queue-init"]["condition"] == "service_completed_successfully"


def test_published_ports_match_what_listens(compose: dict) -> None:
    services = compose["services"]
    published = {name: [str(port) for port in service.get("ports", [])] for name, service in services.items()}
    assert {"4317:4317", "4318:4318", "13133:13133"} <= set(published["otel-collector"])
    assert published["queue-collector"] == ["9464"], "a free host port, so the service can be scaled"
    assert published["jaeger"] == ["16686:16686"]
    assert published["prometheus"] == ["9090:9090"]
    assert published["grafana"] == ["3000:3000"]


def test_grafana_data_sources_point_at_compose_services(compose: dict) -> None:
    datasources = yaml.safe_load(
        (OTEL_CONFIG / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text()
    )
    urls = {source["type"]: source["url"] for source in datasources["datasources"]}
    assert urls == {"prometheus": "http://prometheus:9090", "jaeger": "http://jaeger:16686"}
    assert {"prometheus", "jaeger"} <= set(compose["services"])
    prometheus_flags = _flags(compose["services"]["prometheus"]["command"])
    assert prometheus_flags["config.file"] == "/etc/prometheus/prometheus.yml"


# --- Dockerfile ------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_base_image_is_a_pinned_python_slim() -> None:
    instructions = _instructions()
    args = dict(rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG" and "=" in rest)
    image = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+", image), image
    assert all(rest.split()[0] == "${PYTHON_IMAGE}" for keyword, rest in instructions if keyword == "FROM")


def test_dockerfile_copies_only_existing_sources() -> None:
    for keyword, rest in _instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            *sources, _ = shlex.split(rest)
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"


def test_dockerfile_runs_queue_collector_as_non_root_on_all_interfaces() -> None:
    instructions = _instructions()
    values = {keyword: rest for keyword, rest in instructions}
    assert values["USER"] == "10001:10001"
    assert values["ENTRYPOINT"] == '["queue-collector"]'
    assert "QUEUE_COLLECTOR_OTLP_ENDPOINT=0.0.0.0:4317" in values["ENV"]
    assert "QUEUE_COLLECTOR_ADMIN_ENDPOINT=0.0.0.0:9464" in values["ENV"]
    assert values["EXPOSE"].split() == ["4317", "9464"]
    assert "/livez" in values["HEALTHCHECK"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert "queue-collector" in scripts


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"
    for keyword, rest in _instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            *sources, _ = shlex.split(rest)
            for source in sources:
                assert f"!{source}" in patterns, f"{source} is excluded from the build context"

