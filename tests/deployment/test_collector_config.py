"""The OpenTelemetry Collector configurations in otel-config/ use only documented settings and
wire every pipeline end to end.

The collector binary cannot run here, so the settings each component documents (its README
and configuration schema, for the contrib distribution 0.160.0) are encoded below as nested
tables, and every configuration is walked against them: a misspelt or unknown key fails with
its full path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from deployment_support import CHART, OTEL_CONFIG, assert_golden
from queue_telemetry.catalog import INSTRUMENTS, LABEL_SOURCES, Attr

CONFIGS = ("collector.yaml", "collector-loadbalancing.yaml", "collector-agent.yaml")
#: Configurations the chart carries a copy of, under files/.
CHART_COPIES = ("collector.yaml", "collector-loadbalancing.yaml")


# --- the documented settings -------------------------------------------------------------------


class _Any:
    """A leaf: any scalar or list value is accepted."""

    def __repr__(self) -> str:
        return "ANY"


ANY = _Any()


@dataclass(frozen=True)
class FreeMap:
    """A mapping whose keys are not fixed (headers, nested settings of another component)."""


MAP = FreeMap()


@dataclass(frozen=True)
class OneOf:
    """A scalar leaf restricted to documented values."""

    values: frozenset

    @classmethod
    def of(cls, *values: Any) -> "OneOf":
        return cls(frozenset(values))


@dataclass(frozen=True)
class ListOf:
    """A list of scalars, each restricted to documented values."""

    item: OneOf


# configtls (client and server).
_TLS_COMMON = {
    key: ANY
    for key in (
        "ca_file", "ca_pem", "cert_file", "cert_pem", "key_file", "key_pem", "min_version",
        "max_version", "reload_interval", "include_system_ca_certs_pool", "cipher_suites",
        "curve_preferences",
    )
}
TLS_CLIENT = {**_TLS_COMMON, "insecure": ANY, "insecure_skip_verify": ANY, "server_name_override": ANY}
TLS_SERVER = {**_TLS_COMMON, "client_ca_file": ANY, "client_ca_file_reload": ANY}
COMPRESSION = OneOf.of("gzip", "zstd", "snappy", "zlib", "deflate", "lz4", "none", "")
MIDDLEWARES = [{"id": ANY}]

# configgrpc.ClientConfig.
GRPC_CLIENT = {
    "endpoint": ANY, "compression": COMPRESSION, "tls": TLS_CLIENT, "headers": MAP,
    "keepalive": {"time": ANY, "timeout": ANY, "permit_without_stream": ANY},
    "balancer_name": ANY, "authority": ANY, "auth": {"authenticator": ANY},
    "read_buffer_size": ANY, "write_buffer_size": ANY, "wait_for_ready": ANY,
    "middlewares": MIDDLEWARES,
}
# configgrpc.ServerConfig (with confignet.AddrConfig squashed in).
GRPC_SERVER = {
    "endpoint": ANY, "transport": OneOf.of("tcp", "tcp4", "tcp6", "unix"), "dialer": {"timeout": ANY},
    "tls": TLS_SERVER, "max_recv_msg_size_mib": ANY, "max_concurrent_streams": ANY,
    "read_buffer_size": ANY, "write_buffer_size": ANY, "include_metadata": ANY,
    "auth": {"authenticator": ANY},
    "keepalive": {
        "server_parameters": {
            "max_connection_idle": ANY, "max_connection_age": ANY,
            "max_connection_age_grace": ANY, "time": ANY, "timeout": ANY,
        },
        "enforcement_policy": {"min_time": ANY, "permit_without_stream": ANY},
    },
    "middlewares": MIDDLEWARES,
}
# confighttp.ServerConfig.
HTTP_SERVER = {
    "endpoint": ANY, "tls": TLS_SERVER, "cors": {
        "allowed_origins": ANY, "allowed_headers": ANY, "exposed_headers": ANY, "max_age": ANY,
    },
    "auth": {"authenticator": ANY, "request_params": ANY}, "max_request_body_size": ANY,
    "include_metadata": ANY, "response_headers": MAP, "compression_algorithms": ANY,
    "read_timeout": ANY, "read_header_timeout": ANY, "write_timeout": ANY, "idle_timeout": ANY,
    "keepalive": {"enabled": ANY, "idle_timeout": ANY}, "middlewares": MIDDLEWARES,
}
# exporterhelper: retry_on_failure and sending_queue.
RETRY = {
    key: ANY
    for key in (
        "enabled", "initial_interval", "max_interval", "max_elapsed_time", "multiplier",
        "randomization_factor", "max_retries",
    )
}
SIZER = OneOf.of("requests", "items", "bytes")
SENDING_QUEUE = {
    "enabled": ANY, "num_consumers": ANY, "queue_size": ANY, "sizer": SIZER, "storage": ANY,
    "wait_for_result": ANY, "block_on_overflow": ANY,
    "batch": {
        "flush_timeout": ANY, "min_size": ANY, "max_size": ANY, "sizer": SIZER,
        "partition": {"metadata_keys": ANY, "cardinality_limit": ANY},
    },
}
OTLP_GRPC_EXPORTER = {**GRPC_CLIENT, "timeout": ANY, "sending_queue": SENDING_QUEUE, "retry_on_failure": RETRY}

K8S_METADATA = OneOf.of(
    "k8s.pod.name", "k8s.pod.uid", "k8s.pod.hostname", "k8s.pod.ip", "k8s.pod.start_time",
    "k8s.deployment.name", "k8s.deployment.uid", "k8s.node.name", "k8s.node.uid",
    "k8s.namespace.name", "k8s.replicaset.name", "k8s.replicaset.uid", "k8s.daemonset.name",
    "k8s.daemonset.uid", "k8s.job.name", "k8s.job.uid", "k8s.cronjob.name", "k8s.cronjob.uid",
    "k8s.statefulset.name", "k8s.statefulset.uid", "k8s.container.name", "container.id",
    "container.image.name", "container.image.tag", "container.image.repo_digests",
    "k8s.cluster.uid", "service.name", "service.namespace", "service.version",
    "service.instance.id",
)
_K8S_FIELD_EXTRACT = {
    "tag_name": ANY, "key": ANY, "key_regex": ANY,
    "from": OneOf.of("pod", "namespace", "node", "deployment", "statefulset", "daemonset", "job"),
}
_K8S_FIELD_FILTER = {"key": ANY, "value": ANY, "op": OneOf.of("equals", "not-equals", "exists", "does-not-exist")}

#: Settings per component type, by kind. Each table follows the component's README and its
#: configuration schema; deprecated type names map to the same table.
DOCUMENTED: dict[str, dict[str, Any]] = {
    "receivers": {
        # receiver/otlpreceiver
        "otlp": {
            "protocols": {
                "grpc": GRPC_SERVER,
                "http": {**HTTP_SERVER, "traces_url_path": ANY, "metrics_url_path": ANY, "logs_url_path": ANY},
            }
        },
    },
    "processors": {
        # processor/memorylimiterprocessor
        "memory_limiter": {
            key: ANY
            for key in (
                "check_interval", "limit_mib", "spike_limit_mib", "limit_percentage",
                "spike_limit_percentage", "min_gc_interval_when_soft_limited",
                "min_gc_interval_when_hard_limited", "max_gc_interval_when_soft_limited",
                "max_gc_interval_when_hard_limited",
            )
        },
        # processor/batchprocessor
        "batch": {
            key: ANY
            for key in ("timeout", "send_batch_size", "send_batch_max_size", "metadata_keys",
                        "metadata_cardinality_limit")
        },
        # processor/k8sattributesprocessor (k8s_attributes since the snake_case renames)
        "k8s_attributes": {
            "auth_type": OneOf.of("none", "serviceAccount", "kubeConfig", "tls"),
            "context": ANY, "passthrough": ANY,
            "extract": {
                "metadata": ListOf(K8S_METADATA), "annotations": [_K8S_FIELD_EXTRACT],
                "labels": [_K8S_FIELD_EXTRACT], "otel_annotations": ANY,
                "deployment_name_from_replicaset": ANY,
            },
            "filter": {
                "node": ANY, "node_from_env_var": ANY, "namespace": ANY,
                "fields": [_K8S_FIELD_FILTER], "labels": [_K8S_FIELD_FILTER],
            },
            "pod_association": [
                {"sources": [{"from": OneOf.of("connection", "resource_attribute"), "name": ANY}]}
            ],
            "exclude": {"pods": [{"name": ANY}]},
            "wait_for_metadata": ANY, "wait_for_metadata_timeout": ANY, "watch_sync_period": ANY,
        },
        # processor/redactionprocessor
        "redaction": {
            "allow_all_keys": ANY, "allowed_keys": ANY, "ignored_keys": ANY,
            "ignored_key_patterns": ANY, "blocked_key_patterns": ANY, "blocked_values": ANY,
            "allowed_values": ANY, "redact_all_types": ANY,
            "hash_function": OneOf.of("md5", "sha1", "sha3"),
            "summary": OneOf.of("debug", "info", "silent"),
            "db_sanitizer": MAP, "url_sanitizer": MAP,
        },
    },
    "exporters": {
        # exporter/otlpexporter (otlp_grpc since the snake_case renames)
        "otlp_grpc": OTLP_GRPC_EXPORTER,
        # exporter/loadbalancingexporter (load_balancing since the snake_case renames)
        "load_balancing": {
            "timeout": ANY, "retry_on_failure": RETRY, "sending_queue": SENDING_QUEUE,
            "protocol": {"otlp": OTLP_GRPC_EXPORTER},
            "resolver": {
                "static": {"hostnames": ANY},
                "dns": {"hostname": ANY, "port": ANY, "interval": ANY, "timeout": ANY},
                "k8s": {"service": ANY, "ports": ANY, "timeout": ANY, "return_hostnames": ANY},
                "aws_cloud_map": {
                    "namespace": ANY, "service_name": ANY, "health_status": ANY, "interval": ANY,
                    "timeout": ANY, "port": ANY, "owner_account": ANY,
                },
            },
            "routing_key": OneOf.of("service", "traceID", "metric", "resource", "streamID", "attributes"),
            "routing_attributes": ANY,
        },
    },
    "extensions": {
        # extension/healthcheckextension
        "health_check": {
            **HTTP_SERVER, "path": ANY, "response_body": {"healthy": ANY, "unhealthy": ANY},
            "check_collector_pipeline": {"enabled": ANY, "interval": ANY, "exporter_failure_threshold": ANY},
            "use_v2": ANY, "http": MAP, "grpc": MAP, "component_health": MAP,
        },
        # extension/storage/filestorage
        "file_storage": {
            "directory": ANY, "timeout": ANY, "fsync": ANY, "create_directory": ANY,
            "directory_permissions": ANY,
            "compaction": {
                "directory": ANY, "on_start": ANY, "on_rebound": ANY,
                "rebound_needed_threshold_mib": ANY, "rebound_trigger_threshold_mib": ANY,
                "max_transaction_size": ANY, "check_interval": ANY, "cleanup_on_start": ANY,
            },
        },
    },
}

#: Deprecated component type names, still accepted by the collector, and their current name.
ALIASES = {
    "exporters": {"otlp": "otlp_grpc", "loadbalancing": "load_balancing"},
    "processors": {"k8sattributes": "k8s_attributes"},
}

#: The service section (the collector's own telemetry included).
SERVICE = {
    "extensions": ANY,
    "pipelines": MAP,  # checked separately, pipeline by pipeline
    "telemetry": {
        "logs": {
            "level": OneOf.of("debug", "info", "warn", "error"), "encoding": OneOf.of("console", "json"),
            "development": ANY, "disable_caller": ANY, "disable_stacktrace": ANY, "sampling": MAP,
            "output_paths": ANY, "error_output_paths": ANY, "initial_fields": MAP, "processors": ANY,
        },
        "metrics": {
            "level": OneOf.of("none", "basic", "normal", "detailed"),
            "readers": [{
                "pull": {"exporter": {"prometheus": {
                    "host": ANY, "port": ANY, "without_units": ANY, "without_type_suffix": ANY,
                    "without_scope_info": ANY, "with_resource_constant_labels": MAP,
                }}},
                "periodic": MAP,
            }],
            "views": ANY,
        },
        "traces": MAP,
        "resource": MAP,
    },
}
TOP_LEVEL = {"receivers", "processors", "exporters", "extensions", "connectors", "service"}
SIGNALS = {"traces", "metrics", "logs"}
_ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")


def walk(value: Any, schema: Any, path: str) -> list[str]:
    """Every setting in ``value`` that ``schema`` does not document, as ``path: problem``."""
    if schema is ANY or isinstance(schema, FreeMap) and isinstance(value, dict):
        return []
    if isinstance(schema, FreeMap):
        return [f"{path}: expected a mapping, got {value!r}"]
    if isinstance(schema, OneOf):
        if value not in schema.values:
            return [f"{path}: {value!r} is not one of {sorted(map(str, schema.values))}"]
        return []
    if isinstance(schema, ListOf):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {value!r}"]
        return [problem for index, item in enumerate(value) for problem in walk(item, schema.item, f"{path}[{index}]")]
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {value!r}"]
        return [problem for index, item in enumerate(value) for problem in walk(item, schema[0], f"{path}[{index}]")]
    if value is None:  # an empty section, e.g. `health_check:` with all defaults
        return []
    if not isinstance(value, dict):
        return [f"{path}: expected a mapping, got {value!r}"]
    problems = []
    for key, item in value.items():
        if key not in schema:
            problems.append(f"{path}.{key}: not a documented setting (known: {', '.join(sorted(schema))})")
        else:
            problems.extend(walk(item, schema[key], f"{path}.{key}"))
    return problems


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def documented_settings(kind: str, component_id: str) -> Any:
    type_name = component_type(component_id)
    type_name = ALIASES.get(kind, {}).get(type_name, type_name)
    if type_name not in DOCUMENTED.get(kind, {}):
        raise KeyError(f"{kind}.{component_id}: no documented settings table for component type {type_name!r}")
    return DOCUMENTED[kind][type_name]


def config_problems(config: dict) -> list[str]:
    """Unknown top-level sections, component types and settings."""
    problems = [f"{key}: not a top-level section" for key in config if key not in TOP_LEVEL]
    for kind in ("receivers", "processors", "exporters", "extensions"):
        for component_id, settings in (config.get(kind) or {}).items():
            try:
                schema = documented_settings(kind, component_id)
            except KeyError as error:
                problems.append(str(error.args[0]))
                continue
            problems.extend(walk(settings, schema, f"{kind}.{component_id}"))
    problems.extend(walk(config.get("service"), SERVICE, "service"))
    return problems


def load(name: str) -> dict:
    return yaml.safe_load((OTEL_CONFIG / name).read_text(encoding="utf-8"))


# --- tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CONFIGS)
def test_every_setting_is_documented(name: str) -> None:
    assert config_problems(load(name)) == []


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c["processors"]["batch"].__setitem__("send_batch_sise", 10),
         "processors.batch.send_batch_sise: not a documented setting"),
        (lambda c: c["exporters"]["otlp_grpc/queue_collector"]["sending_queue"].__setitem__("sizer", "messages"),
         "exporters.otlp_grpc/queue_collector.sending_queue.sizer: 'messages' is not one of"),
        (lambda c: c["processors"].__setitem__("memorylimiter", {}),
         "processors.memorylimiter: no documented settings table"),
        (lambda c: c["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"].__setitem__("hots", "x"),
         "service.telemetry.metrics.readers[0].pull.exporter.prometheus.hots: not a documented setting"),
    ],
    ids=["typo", "bad-enum", "unknown-component", "nested-list"],
)
def test_the_settings_walk_names_what_is_wrong(mutate, expected: str) -> None:
    config = load("collector.yaml")
    mutate(config)
    assert any(problem.startswith(expected) for problem in config_problems(config)), config_problems(config)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_pipeline_is_wired_end_to_end(name: str) -> None:
    config = load(name)
    service = config["service"]
    pipelines = service["pipelines"]
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    assert {component_type(pipeline_id) for pipeline_id in pipelines} == SIGNALS, "one pipeline per signal"
    for pipeline_id, pipeline in pipelines.items():
        assert set(pipeline) <= {"receivers", "processors", "exporters"}, pipeline_id
        assert pipeline.get("receivers") and pipeline.get("exporters"), f"{pipeline_id} has no receiver or exporter"
        for kind in used:
            for component_id in pipeline.get(kind, []):
                assert component_id in (config.get(kind) or {}), f"{pipeline_id} uses undefined {kind}.{component_id}"
                used[kind].add(component_id)
    for kind, ids in used.items():
        assert set(config.get(kind) or {}) == ids, f"{kind} defined but not used in any pipeline"
    assert set(service["extensions"]) == set(config.get("extensions") or {}), "extensions defined vs enabled"


@pytest.mark.parametrize("name", CONFIGS)
def test_memory_limiter_first_and_batch_last_in_every_pipeline(name: str) -> None:
    for pipeline_id, pipeline in load(name)["service"]["pipelines"].items():
        types = [component_type(processor) for processor in pipeline["processors"]]
        assert types[0] == "memory_limiter", f"{pipeline_id}: memory_limiter must come first"
        assert types[-1] == "batch", f"{pipeline_id}: batch must come last"
        assert "redaction" in types, f"{pipeline_id}: no redaction"


@pytest.mark.parametrize("name", CONFIGS)
def test_sending_queues_use_a_defined_storage_and_retry(name: str) -> None:
    config = load(name)
    for exporter_id, settings in config["exporters"].items():
        assert settings["retry_on_failure"]["enabled"] is True, exporter_id
        assert settings["sending_queue"]["enabled"] is True, exporter_id
        storage = settings["sending_queue"].get("storage")
        if name == "collector-agent.yaml":
            assert storage is None, "the agent keeps an in-memory queue; the gateway's is durable"
            continue
        assert storage in config["extensions"], f"{exporter_id}: storage {storage!r} is not defined"
        assert component_type(storage) == "file_storage"
        assert storage in config["service"]["extensions"]


def test_loadbalancing_routes_by_service_and_differs_only_in_the_exporter() -> None:
    direct, balanced = load("collector.yaml"), load("collector-loadbalancing.yaml")
    exporter = balanced["exporters"]["load_balancing/queue_collector"]
    assert exporter["routing_key"] == "service"
    assert exporter["resolver"]["dns"]["port"] == "4317"
    # The per-replica exporters leave queueing and retries to the routing layer.
    assert exporter["protocol"]["otlp"]["sending_queue"]["enabled"] is False
    assert exporter["protocol"]["otlp"]["retry_on_failure"]["enabled"] is False
    for section in ("receivers", "processors", "extensions"):
        assert direct[section] == balanced[section], section
    for pipeline_id, pipeline in direct["service"]["pipelines"].items():
        other = balanced["service"]["pipelines"][pipeline_id]
        assert pipeline["processors"] == other["processors"]
        assert other["exporters"] == ["load_balancing/queue_collector"]


@pytest.mark.parametrize("name", CONFIGS)
def test_environment_references_all_have_defaults(name: str) -> None:
    text = (OTEL_CONFIG / name).read_text(encoding="utf-8")
    references = _ENV_REFERENCE.findall(text)
    assert references, "expected ${env:...} references"
    assert [variable for variable, default in references if not default] == []
    # Nothing that looks like a reference but is malformed (e.g. $(VAR) or ${VAR}).
    assert not re.search(r"\$\{(?!env:)", text)


def test_redaction_patterns_mask_secrets_and_spare_queue_attributes() -> None:
    redaction = load("collector.yaml")["processors"]["redaction"]
    key_patterns = [re.compile(pattern) for pattern in redaction["blocked_key_patterns"]]
    value_patterns = [re.compile(pattern) for pattern in redaction["blocked_values"]]

    def key_blocked(key: str) -> bool:
        return any(pattern.search(key) for pattern in key_patterns)

    for key in ("http.request.header.authorization", "db.password", "client_secret", "api_key",
                "x-api-key", "servicebus.connection_string", "aws.secret_access_key", "access_token"):
        assert key_blocked(key), key
    queue_keys = {value for value in vars(Attr).values() if isinstance(value, str)} | set(LABEL_SOURCES.values())
    queue_keys |= {attribute for item in INSTRUMENTS for attribute in item.attributes + item.optional_attributes}
    queue_keys |= {"queue.name", "message.id", "queue.operation", "queue.session_id", "gen_ai.usage.input_tokens"}
    assert sorted(key for key in queue_keys if key_blocked(key)) == []
    for secret in ("AKIAIOSFODNN7EXAMPLE", "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=abc=",
                   "Bearer abc.def-123", "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", "amqps://user:pa55@host/"):
        assert any(pattern.search(secret) for pattern in value_patterns), secret
    for harmless in ("orders-queue", "sb://namespace.servicebus.windows.net/", "https://sqs.eu-west-1.amazonaws.com/1/q"):
        assert not any(pattern.search(harmless) for pattern in value_patterns), harmless


def test_compose_set_flag_names_a_configured_setting() -> None:
    compose = yaml.safe_load((OTEL_CONFIG / "compose.yaml").read_text(encoding="utf-8"))
    for name in ("collector.yaml", "collector-loadbalancing.yaml"):
        config = load(name)
        for argument in compose["services"]["otel-collector"]["command"]:
            if argument.startswith("--set="):
                path, _, value = argument.removeprefix("--set=").partition("=")
                node = config
                for part in path.split("::"):
                    assert part in node, f"{name}: --set path {path} does not exist"
                    node = node[part]
                assert value in ("true", "false")


@pytest.mark.parametrize("name", CHART_COPIES)
def test_chart_carries_identical_copies(name: str) -> None:
    assert_golden(
        CHART / "files" / name,
        (OTEL_CONFIG / name).read_text(encoding="utf-8"),
        f"copy otel-config/{name} to helm/queue-telemetry/files/ (or rerun with QUEUE_TELEMETRY_REGENERATE=1)",
    )


def test_agent_forwards_to_the_gateway_service_the_chart_creates() -> None:
    endpoint = load("collector-agent.yaml")["exporters"]["otlp_grpc/gateway"]["endpoint"]
    assert endpoint == "${env:OTEL_GATEWAY_ENDPOINT:-queue-telemetry-collector:4317}"

