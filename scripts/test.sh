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
# The tests of the plain proxy path and of LLM routes run a second time over the lean HTTP/1
# path (README, "The lean HTTP/1 path"); `TOLLGATE_TEST_LEAN=1 cargo nextest run` runs the whole
# suite so.
LEAN_MODULES="proxying hostile health balancing counters reload tls_listen tls_edge llm llm_resilience llm_tools llm_wire sdk"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
  TOLLGATE_TEST_LEAN=1 cargo nextest run --locked --no-fail-fast --test it \
    -E "test(/^(${LEAN_MODULES// /|})::/)"
else
  cargo test --locked --no-fail-fast
  TOLLGATE_TEST_LEAN=1 cargo test --locked --no-fail-fast --test it -- \
    $(printf '%s:: ' $LEAN_MODULES)
fi
