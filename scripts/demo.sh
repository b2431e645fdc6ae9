#!/usr/bin/env bash
# Runs the main job on the embedded default: the queue-collector receiver on 127.0.0.1 and the
# demo workload exporting straight to it over OTLP/gRPC. The receiver keeps running after the
# workload ends so /metrics, /health and the trace file can be inspected; Ctrl-C stops it.
#   DEMO_DURATION (default 30)  seconds the workload runs
#   DEMO_RATE     (default 50)  messages per second it sends
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source "$root/scripts/setup-env.sh"

data="$root/queue-collector-data"
mkdir -p "$data"
otlp="${QUEUE_COLLECTOR_OTLP_ENDPOINT:-127.0.0.1:4317}"
admin="${QUEUE_COLLECTOR_ADMIN_ENDPOINT:-127.0.0.1:9464}"

"$root/.venv/bin/queue-collector" --otlp-endpoint "$otlp" --admin-endpoint "$admin" \
  --traces-file "$data/traces.jsonl" --logs-file "$data/logs.jsonl" &
collector_pid=$!
trap 'kill -TERM "$collector_pid" 2>/dev/null; wait "$collector_pid" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 100); do
  if "$root/.venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://$admin/readyz', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$collector_pid" 2>/dev/null || { echo "queue-collector failed to start" >&2; exit 1; }
  sleep 0.1
done

export OTEL_EXPORTER_OTLP_ENDPOINT="${OTEL_EXPORTER_OTLP_ENDPOINT:-http://$otlp}"
export OTEL_EXPORTER_OTLP_INSECURE="${OTEL_EXPORTER_OTLP_INSECURE:-true}"
export OTEL_METRIC_EXPORT_INTERVAL="${OTEL_METRIC_EXPORT_INTERVAL:-5000}"
"$root/.venv/bin/queue-telemetry" demo --duration "${DEMO_DURATION:-30}" --rate "${DEMO_RATE:-50}" \
  --summary-file "$data/demo-summary.json"

cat <<TXT

The workload has finished; its telemetry is in the receiver. Look at:
  metrics      http://$admin/metrics
  health       http://$admin/health
  traces       $data/traces.jsonl
  logs         $data/logs.jsonl
  ground truth $data/demo-summary.json
The receiver keeps running; press Ctrl-C to stop it.
TXT
wait "$collector_pid"
