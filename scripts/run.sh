#!/usr/bin/env bash
# Builds Tollgate (release) and runs it on conf/tollgate.toml, or on the file given as $1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --locked
exec target/release/tollgate run -c "${1:-conf/tollgate.toml}"
