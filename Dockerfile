# syntax=docker/dockerfile:1
#
# Container image for the queue-collector receiver.
#
#   docker build -t queue-collector .
#   docker run -p 4317:4317 -p 9464:9464 queue-collector --traces-endpoint=http://jaeger:4317
#
# Runs as an unprivileged user (uid 10001) and writes only below /var/lib/queue-collector (its
# working directory, where the default traces and logs files land), so it also runs with a
# read-only root filesystem when that directory is a volume. Listens on 0.0.0.0:4317 (OTLP
# gRPC) and 0.0.0.0:9464 (/metrics, /health, /livez, /readyz); flags and QUEUE_COLLECTOR_*
# variables override both.

ARG PYTHON_IMAGE=python:3.12.11-slim-bookworm

# --- build: install the project and its dependencies into a virtual environment -----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/queue-collector
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src/ src/
COPY collector/ collector/
RUN /opt/queue-collector/bin/pip install .

# --- runtime: the virtual environment on a clean base, nothing else ------------------------
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/queue-collector/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    QUEUE_COLLECTOR_OTLP_ENDPOINT=0.0.0.0:4317 \
    QUEUE_COLLECTOR_ADMIN_ENDPOINT=0.0.0.0:9464
RUN groupadd --system --gid 10001 queue-collector \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /var/lib/queue-collector --shell /usr/sbin/nologin queue-collector \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/queue-collector
COPY --from=build /opt/queue-collector /opt/queue-collector
WORKDIR /var/lib/queue-collector
USER 10001:10001
EXPOSE 4317 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/livez', timeout=4)"]
ENTRYPOINT ["queue-collector"]
