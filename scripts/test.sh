#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests (the integration tests
# start the real binary against in-test servers on loopback ports).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/sdk-venv.sh
# The SDK tests (tests/it/sdk.rs) run the official Python SDKs from this venv.
export TOLLGATE_SDK_PYTHON="$PWD/target/sdk-venv/bin/python"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# The lean HTTP/1 path is on by default; the tests of the plain proxy path and of LLM routes
# run a second time over Pingora's HTTP/1 path, which serves what the lean path does not take
# (README, "The lean HTTP/1 path"). `TOLLGATE_TEST_LEAN=0 cargo nextest run` runs the whole
# suite so.
PINGORA_H1_MODULES="auth limits concurrency proxying hostile health balancing counters reload tls_listen tls_edge llm llm_resilience llm_tools llm_wire sdk"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
  TOLLGATE_TEST_LEAN=0 cargo nextest run --locked --no-fail-fast --test it \
    -E "test(/^(${PINGORA_H1_MODULES// /|})::/)"
else
  cargo test --locked --no-fail-fast
  TOLLGATE_TEST_LEAN=0 cargo test --locked --no-fail-fast --test it -- \
    $(printf '%s:: ' $PINGORA_H1_MODULES)
fi
