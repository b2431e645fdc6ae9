"""The queue-telemetry chart, rendered by the real Helm engine (helm-python-sdk): it lints
clean, every manifest is valid for the oldest and newest Kubernetes versions
kubernetes-validate knows, the examples' rendered manifests match the committed ones, and
wrong values are refused by the schema with a message naming the key."""

from __future__ import annotations

import copy
import subprocess
import sys
from functools import lru_cache
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from deployment_support import CHART, OTEL_CONFIG, assert_golden

RELEASE = "queue-telemetry"
NAMESPACE = "observability"
KUBERNETES_VERSIONS = ("1.25.0", "1.37.0")
EXAMPLES = sorted(path.name for path in (CHART / "examples").iterdir() if path.is_dir())
#: Custom resources of the Prometheus Operator: no built-in schema, checked by hand.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
_NOTES = "NOTES.txt"


def render(values: dict | None = None) -> dict[str, str]:
    """``{template path: text}`` for the chart with ``values``."""
    with helm_python.Chart.load(str(CHART)) as chart:
        return chart.render(values or {}, name=RELEASE, namespace=NAMESPACE)


def manifests(rendered: dict[str, str]) -> list[dict]:
    """Every Kubernetes object in a render, in template order."""
    objects = []
    for path in sorted(rendered):
        if path.endswith(_NOTES):
            continue
        objects.extend(document for document in yaml.safe_load_all(rendered[path]) if document)
    return objects


def find(objects: list[dict], kind: str, name: str | None = None) -> dict:
    matches = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def example_values(example: str) -> dict:
    return yaml.safe_load((CHART / "examples" / example / "values.yaml").read_text(encoding="utf-8")) or {}


def rendered_text(rendered: dict[str, str]) -> str:
    """The render as one multi-document YAML file, like `helm template` prints it."""
    parts = []
    for path in sorted(rendered):
        text = rendered[path].strip()
        if path.endswith(_NOTES) or not text:
            continue
        parts.append(f"---\n# Source: {path}\n{text}\n")
    return "".join(parts)


@lru_cache(maxsize=None)
def rendered_example(example: str) -> dict[str, str]:
    """The render of an example's values (cached: rendered once per test run)."""
    return render(example_values(example))


def validate_custom_resource(document: dict) -> None:
    """The fields the Prometheus Operator requires of its custom resources."""
    assert document["apiVersion"] == "monitoring.coreos.com/v1"
    assert document["metadata"]["name"] and document["metadata"]["namespace"]
    spec = document["spec"]
    if document["kind"] == "ServiceMonitor":
        assert spec["selector"]["matchLabels"]
        assert spec["endpoints"] and all(endpoint["port"] for endpoint in spec["endpoints"])
    else:
        assert isinstance(spec["groups"], list)
        for group in spec["groups"]:
            assert group["name"] and isinstance(group["rules"], list)
            for rule in group["rules"]:
                assert ("alert" in rule) != ("record" in rule) and rule["expr"]


# --- lint and validation -----------------------------------------------------------------------


def test_lint_finds_no_errors() -> None:
    report = helm_python.lint(str(CHART))
    errors = [message for message in report["messages"] if message["severity"] >= 2]
    assert report["errors"] == [] and errors == [], report


@pytest.mark.parametrize("example", EXAMPLES)
def test_lint_accepts_every_example(example: str) -> None:
    report = helm_python.lint(str(CHART), example_values(example))
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_manifest_is_valid_kubernetes(example: str) -> None:
    objects = manifests(rendered_example(example))
    assert objects
    for document in objects:
        if document["kind"] in CRD_KINDS:
            validate_custom_resource(document)
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as error:  # pragma: no cover - failure path
                pytest.fail(f"{example}: {document['kind']}/{document['metadata']['name']} on {version}: {error}")


@pytest.mark.parametrize("example", EXAMPLES)
def test_examples_render_to_the_committed_manifests(example: str) -> None:
    assert_golden(
        CHART / "examples" / example / "rendered.yaml",
        rendered_text(rendered_example(example)),
        "rerun with QUEUE_TELEMETRY_REGENERATE=1 to rewrite rendered.yaml, then review the diff",
    )


# --- values schema -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, names",
    [
        ({"receiver": {"replica": 2}}, "replica"),
        ({"collector": {"routing": "roundRobin"}}, "routing"),
        ({"collector": {"image": {"pullPolicy": "Sometimes"}}}, "pullPolicy"),
        ({"receiver": {"service": {"type": "Ingress"}}}, "type"),
        ({"serviceMonitor": {"enabled": "yes"}}, "enabled"),
        ({"dashbaords": {"enabled": False}}, "dashbaords"),
        ({"receiver": {"alertChannelSecrets": [{"env": "slack-url", "secretName": "s", "key": "k"}]}}, "env"),
        ({"receiver": {"podDisruptionBudget": {"minAvailable": "half"}}}, "minAvailable"),
    ],
    ids=["typo", "bad-routing", "bad-pull-policy", "bad-service-type", "wrong-type", "top-level-typo",
         "bad-env-name", "bad-min-available"],
)
def test_schema_rejects_wrong_values_naming_the_key(values: dict, names: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as raised:
        render(values)
    assert names in str(raised.value)


def test_schema_describes_every_default_value() -> None:
    schema = yaml.safe_load((CHART / "values.schema.json").read_text(encoding="utf-8"))
    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))

    def check(value: Any, node: dict, path: str) -> None:
        assert "description" in node or path == "", f"{path}: no description"
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path}: additionalProperties must be false"
            for key, item in (value or {}).items():
                assert key in node["properties"], f"{path}.{key}: not in the schema"
                check(item, node["properties"][key], f"{path}.{key}")

    check(defaults, schema, "")


def test_several_receivers_need_load_balancing() -> None:
    with pytest.raises(helm_python.HelmError) as raised:
        render({"receiver": {"replicas": 3}})
    assert "collector.routing: loadBalancing" in str(raised.value)
    objects = manifests(render({"receiver": {"replicas": 3}, "collector": {"routing": "loadBalancing"}}))
    assert find(objects, "Deployment", f"{RELEASE}-receiver")["spec"]["replicas"] == 3


# --- what the chart deploys --------------------------------------------------------------------


def _container(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


@pytest.mark.parametrize("routing, file_name", [("direct", "collector.yaml"), ("loadBalancing", "collector-loadbalancing.yaml")])
def test_collector_runs_the_otel_config_file_unchanged(routing: str, file_name: str) -> None:
    values = {"collector": {"routing": routing}}
    objects = manifests(render(values))
    config_map = find(objects, "ConfigMap", f"{RELEASE}-collector")
    assert config_map["data"]["collector.yaml"] == (OTEL_CONFIG / file_name).read_text(encoding="utf-8")
    container = _container(find(objects, "Deployment", f"{RELEASE}-collector"))
    assert container["image"] == "otel/opentelemetry-collector-contrib:0.160.0"
    assert container["args"] == ["--config=/conf/collector.yaml"]
    env = _env(container)
    # The variables the configuration reads name Services this release creates.
    receiver = find(objects, "Service", f"{RELEASE}-receiver")
    headless = find(objects, "Service", f"{RELEASE}-receiver-headless")
    assert env["QUEUE_RECEIVER_ENDPOINT"] == f"{receiver['metadata']['name']}.{NAMESPACE}.svc:4317"
    assert env["QUEUE_RECEIVER_HEADLESS_SERVICE"] == f"{headless['metadata']['name']}.{NAMESPACE}.svc"
    assert headless["spec"]["clusterIP"] == "None"
    assert env["MY_POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert "/var/lib/otelcol/file_storage" in mounts


def test_receiver_deployment_defaults() -> None:
    objects = manifests(render())
    deployment = find(objects, "Deployment", f"{RELEASE}-receiver")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "admin"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert "resources" not in container
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["args"] == [
        "--config=/etc/queue-collector/config.yaml",
        "--otlp-endpoint=0.0.0.0:4317",
        "--admin-endpoint=0.0.0.0:9464",
        "--traces-file=/var/lib/queue-collector/traces.jsonl",
        "--logs-file=/var/lib/queue-collector/logs.jsonl",
    ]
    writable = {mount["mountPath"] for mount in container["volumeMounts"] if not mount.get("readOnly")}
    assert writable == {"/var/lib/queue-collector", "/tmp"}
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"}


def test_receiver_config_is_passed_through_and_restarts_pods_when_it_changes() -> None:
    config = {"some": {"nested": ["keys", 1]}, "as": "given"}
    objects = manifests(render({"receiver": {"config": config}}))
    assert yaml.safe_load(find(objects, "ConfigMap", f"{RELEASE}-receiver")["data"]["config.yaml"]) == config

    def checksum(values: dict) -> str:
        deployment = find(manifests(render(values)), "Deployment", f"{RELEASE}-receiver")
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum({}) != checksum({"receiver": {"config": config}})
    assert checksum({}) == checksum({})


def test_collector_pods_restart_when_routing_changes() -> None:
    def checksum(routing: str) -> str:
        deployment = find(manifests(render({"collector": {"routing": routing}})), "Deployment", f"{RELEASE}-collector")
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum("direct") != checksum("loadBalancing")


def test_traces_endpoint_and_alert_channel_secrets() -> None:
    values = {"receiver": {
        "traces": {"endpoint": "http://jaeger-collector.observability:4317"},
        "alertChannelSecrets": [
            {"env": "SLACK_WEBHOOK_URL", "secretName": "alerts", "key": "slack"},
            {"env": "PAGERDUTY_KEY", "secretName": "alerts", "key": "pagerduty", "optional": True},
        ],
    }}
    container = _container(find(manifests(render(values)), "Deployment", f"{RELEASE}-receiver"))
    assert "--traces-endpoint=http://jaeger-collector.observability:4317" in container["args"]
    env = _env(container)
    assert env["SLACK_WEBHOOK_URL"] == {"secretKeyRef": {"name": "alerts", "key": "slack", "optional": False}}
    assert env["PAGERDUTY_KEY"] == {"secretKeyRef": {"name": "alerts", "key": "pagerduty", "optional": True}}


def test_dashboards_are_config_maps_for_the_grafana_sidecar() -> None:
    objects = manifests(render())
    maps = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["labels"].get("grafana_dashboard") == "1"]
    files = {name: text for m in maps for name, text in m["data"].items()}
    expected = {path.name: path.read_text(encoding="utf-8") for path in (OTEL_CONFIG / "grafana" / "dashboards").glob("*.json")}
    assert {name: text.rstrip("\n") for name, text in expected.items()} == files
    custom = manifests(render({"dashboards": {"labels": {"dashboards": "queues"}, "namespace": "grafana"}}))
    maps = [o for o in custom if o["kind"] == "ConfigMap" and o["metadata"]["labels"].get("dashboards") == "queues"]
    assert len(maps) == len(expected) and {m["metadata"]["namespace"] for m in maps} == {"grafana"}
    assert not [o for o in manifests(render({"dashboards": {"enabled": False}})) if o["kind"] == "ConfigMap"
                and "grafana_dashboard" in o["metadata"]["labels"]]


def test_prometheus_rule_carries_the_rule_file() -> None:
    objects = manifests(render({"prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}}}))
    rule = find(objects, "PrometheusRule")
    expected = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text(encoding="utf-8"))
    assert rule["spec"]["groups"] == expected["groups"]
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    validate_custom_resource(rule)


def test_service_monitors_scrape_the_admin_and_collector_metrics_ports() -> None:
    objects = manifests(render({"serviceMonitor": {"enabled": True}}))
    monitors = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ServiceMonitor"}
    receiver = monitors[f"{RELEASE}-receiver"]
    assert receiver["spec"]["endpoints"][0]["port"] == "admin"
    assert receiver["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitors[f"{RELEASE}-collector"]["spec"]["endpoints"][0]["port"] == "metrics"
    # The selector matches the receiver Service and not the headless one (no double scrape).
    selector = receiver["spec"]["selector"]["matchLabels"]
    services = [o for o in objects if o["kind"] == "Service" and selector.items() <= o["metadata"]["labels"].items()]
    assert [service["metadata"]["name"] for service in services] == [f"{RELEASE}-receiver"]


def test_selector_labels_are_a_stable_subset_of_the_labels() -> None:
    for document in manifests(render({"collector": {"routing": "loadBalancing"}, "commonLabels": {"team": "queues"}})):
        if document["kind"] == "Deployment":
            selector = document["spec"]["selector"]["matchLabels"]
            assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}
            pod_labels = document["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= pod_labels.items()
            assert pod_labels["team"] == "queues"


def test_receiver_only_install_points_applications_at_the_receiver() -> None:
    rendered = render({"collector": {"enabled": False}})
    assert not [o for o in manifests(rendered) if o["metadata"]["name"].endswith("-collector")]
    notes = rendered[f"{RELEASE}/templates/{_NOTES}"]
    assert f"OTEL_EXPORTER_OTLP_ENDPOINT=http://{RELEASE}-receiver.{NAMESPACE}.svc:4317" in notes


def test_notes_tell_where_to_send_and_where_to_look() -> None:
    notes = render()[f"{RELEASE}/templates/{_NOTES}"]
    assert f"OTEL_EXPORTER_OTLP_ENDPOINT=http://{RELEASE}-collector.{NAMESPACE}.svc:4317" in notes
    for text in ("/health", "/readyz", "/metrics", "grafana_dashboard=1", "receiver.traces.endpoint"):
        assert text in notes, text


def test_autoscaling_and_disruption_budget() -> None:
    values = copy.deepcopy(example_values("scaled-out"))
    objects = manifests(render(values))
    hpa = find(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-receiver"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    assert "replicas" not in find(objects, "Deployment", f"{RELEASE}-receiver")["spec"]
    pdb = find(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    with pytest.raises(helm_python.HelmError, match="minReplicas"):
        values["receiver"]["autoscaling"].update(minReplicas=9)
        render(values)


@pytest.mark.parametrize("example", EXAMPLES)
def test_receiver_config_of_every_example_passes_validate_config(example: str, tmp_path) -> None:
    objects = manifests(rendered_example(example))
    config_file = tmp_path / "config.yaml"
    config_file.write_text(find(objects, "ConfigMap", f"{RELEASE}-receiver")["data"]["config.yaml"])
    result = subprocess.run(
        [sys.executable, "-m", "queue_collector", "validate-config", str(config_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_examples_directory_is_complete() -> None:
    assert {"default", "scaled-out", "receiver-only"} <= set(EXAMPLES)
    for example in EXAMPLES:
        assert (CHART / "examples" / example / "values.yaml").is_file()

