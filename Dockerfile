# syntax=docker/dockerfile:1
# One image for the operator (`modelmonitor run`) and the sidecar it injects (`modelmonitor sidecar`).
#   docker build -t ghcr.io/modelmonitor/modelmonitor:0.1.0 .
# Build stage: a virtualenv with the package and its dependencies (all from wheels). The final stage
# copies only that virtualenv: no pip cache, no build tools, no compiler (slim has none to begin with).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ONLY_BINARY=numpy,scipy,pandas
WORKDIR /src
RUN python -m venv /opt/modelmonitor
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN /opt/modelmonitor/bin/pip install --no-cache-dir . \
    && /opt/modelmonitor/bin/modelmonitor --version \
    && /opt/modelmonitor/bin/modelmonitor run --help >/dev/null \
    && /opt/modelmonitor/bin/modelmonitor sidecar --help >/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="modelmonitor" \
      org.opencontainers.image.description="Kubernetes operator that keeps deployed ML models accurate, fair and fast" \
      org.opencontainers.image.source="https://github.com/modelmonitor/modelmonitor" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/modelmonitor/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/modelmonitor /opt/modelmonitor
# 65532 ("nonroot" in distroless): the uid the chart and the injected sidecar run as. Numeric, so
# Kubernetes can check runAsNonRoot; nothing in the image is writable by it (read-only root fs).
USER 65532:65532
WORKDIR /tmp
# Operator: 8000 /metrics, 8080 Kopf liveness. Sidecar: 8480 proxy, 8481 admin (window, /metrics).
EXPOSE 8000 8080 8480 8481
ENTRYPOINT ["modelmonitor"]
CMD ["run"]
