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
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast
fi
