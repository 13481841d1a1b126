#!/usr/bin/env bash
# Creates target/sdk-venv, a Python virtualenv with the official openai, anthropic and mcp SDKs (and
# the OTLP receiver's opentelemetry-proto and grpcio, and h2) at the versions pinned in
# tests/it/sdk/requirements.txt, for the SDK and MCP tests (tests/it/sdk.rs, tests/it/mcp.rs),
# the OpenTelemetry tests (tests/it/otel.rs), the OpenAPI checks of tests/it/prompts.rs and the
# HTTP/2 and gRPC tests (tests/it/http2.rs, tests/it/grpc.rs); `websockets` peers of
# tests/it/websocket.rs.
# Does nothing when the venv already matches the pins and the Python.
# python3 -m venv needs Debian's python3-venv: as root it uses apt-get; otherwise it says what
# to install.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/sdk-venv
req=tests/it/sdk/requirements.txt

need=()
if ! command -v python3 >/dev/null; then
  need+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  need+=(python3-venv)
fi
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "Missing packages: ${need[*]}" >&2
    echo "Install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi

# The venv is current when it was built from these pins by this Python.
stamp="$(sha256sum "$req" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.executable, sys.version.split()[0])')"
if [[ -x $venv/bin/python && -f $venv/.stamp && "$(cat "$venv/.stamp")" == "$stamp" ]]; then
  exit 0
fi

echo "sdk-venv: creating $venv from $req" >&2
python3 -m venv --clear "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" >&2
"$venv/bin/python" -c 'import openai, anthropic, mcp, grpc, h2.connection, google.protobuf, opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc, openapi_spec_validator, websockets' >&2
echo "$stamp" >"$venv/.stamp"
