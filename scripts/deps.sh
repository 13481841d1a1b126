#!/usr/bin/env bash
# Installs what building and testing Tollgate needs on Debian, when it is missing:
#   cmake, pkg-config and a C compiler (Pingora's native dependencies), redis-server (the
#   cluster-limit tests start their own), chromium and chromium-driver (the console's browser
#   tests), and, with --loadtest,
#   nginx and wrk for loadtest/run.sh. As root it uses apt-get; otherwise it says what to install.
set -euo pipefail

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v cc >/dev/null || need+=(build-essential)
command -v python3 >/dev/null || need+=(python3)
command -v openssl >/dev/null || need+=(openssl)   # test certificates; s_client checks the TLS listeners
command -v redis-server >/dev/null || need+=(redis-server)   # cluster-scope limit tests
command -v chromium >/dev/null || need+=(chromium)            # the console's browser tests...
command -v chromedriver >/dev/null || need+=(chromium-driver) # ...driven through chromedriver
if [[ "${1:-}" == "--loadtest" ]]; then
  command -v nginx >/dev/null || need+=(nginx)
  command -v wrk >/dev/null || need+=(wrk)
fi
command -v cargo >/dev/null || { echo "Rust is missing: install it with rustup (https://rustup.rs), then run this again." >&2; exit 1; }

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
