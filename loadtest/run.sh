#!/usr/bin/env bash
# Side-by-side load test: tollgate vs. nginx (and, in the `floor` case, HAProxy and a minimal
# Pingora proxy) as reverse proxies in front of the same upstream (another nginx), on one host,
# loopback only. See loadtest/README.md for the knobs.
set -euo pipefail

# ---------------------------------------------------------------------------------------------
# Knobs (environment)
# ---------------------------------------------------------------------------------------------
DURATION="${DURATION:-10s}"          # wrk -d for each measured run
WARMUP="${WARMUP:-3s}"               # wrk -d for the warm-up run before each measured run
CONNECTIONS="${CONNECTIONS:-32}"     # wrk -c, a list ("32 256"): the floor case runs at each
                                     # count, the other cases at the first one
PROXY_CORES="${PROXY_CORES:-1}"      # cores for the proxy under test: cores 0..N-1, load on the
                                     # rest; workers / threads / nbthread = N for every proxy
ROUNDS="${ROUNDS:-3}"                # floor, https, handshake and h2 cases: rounds, the proxies' order alternating
FLOOR_BIN="${FLOOR_BIN:-}"           # use this pingora_floor instead of building the example
THREADS="${THREADS:-1}"              # wrk -t
BODY_BYTES="${BODY_BYTES:-4096}"     # size of the POST /json request body
KEEPALIVE="${KEEPALIVE:-256}"        # idle upstream connections every proxy keeps (nginx, tollgate,
                                     # the floor); at least the largest CONNECTIONS, else a run
                                     # measures upstream connection churn, not the proxy
PROXY_CPU="${PROXY_CPU:-}"           # CPU list (taskset -c) for the proxy under test (PROXY_CORES)
LOAD_CPU="${LOAD_CPU:-}"             # CPU list (taskset -c) for wrk and the upstream nginx
TOLLGATE_BIN="${TOLLGATE_BIN:-}"     # use this binary instead of `cargo build --release`
LEAN="${LEAN:-true}"                 # tollgate's [server] lean_http1 (false: Pingora's HTTP/1 path)
KEEP_TMP="${KEEP_TMP:-0}"            # 1: keep the temp dir (configs, logs) after the run
READY_TIMEOUT="${READY_TIMEOUT:-60}" # seconds to wait for each server to answer
OTHER_CPU_WARN="${OTHER_CPU_WARN:-10}" # warn when other processes use this % of a CPU during a run
SINK_ROUNDS="${SINK_ROUNDS:-6}"       # rounds of the log and store cases (each: the sink off and on)
CASES="${CASES:-get post llm auth limit redis lease log store prompt https handshake h2}" # get (GET /small), post (POST /json),
                                     # floor (not by default: nginx, HAProxy, the Pingora floor
                                     # and tollgate on GET, POST and both LLM paths, with CPU
                                     # microseconds per request, ROUNDS rounds, each count),
                                     # llm (chat), auth (an API-key route vs. its open twin),
                                     # limit (a route with a local limit that never refuses vs.
                                     # its open twin), redis / lease (the same with a cluster
                                     # limit in Redis, decided per request / from leases),
                                     # log (GET /small with the access log to a file vs. off,
                                     # for tollgate and for nginx), store (GET /small with the
                                     # call store, [log.store], on vs. off), prompt (a prompt
                                     # API on the mock provider vs. the same request to
                                     # /v1/chat/completions), https (GET /small over TLS,
                                     # keep-alive), handshake (GET /small over TLS, a new
                                     # connection and full handshake per request), h2 (GET
                                     # /small over TLS with HTTP/2, h2load); not by default:
                                     # idle (10,000 keep-alive connections held, RSS per worker,
                                     # tollgate and nginx) and sse (5,000 streams at once from
                                     # the mock provider), knobs in loadtest/lib/conns.sh
H2_STREAMS="${H2_STREAMS:-10}"       # h2load -m: concurrent streams per connection (h2 case)
HANDSHAKE_CLIENTS="${HANDSHAKE_CLIENTS:-8}" # parallel `openssl s_time -new` clients (handshake case)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
RESULTS="$HERE/results"
HOST=127.0.0.1

log() { printf '[loadtest] %s\n' "$*" >&2; }
die() { printf '[loadtest] ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=loadtest/lib/floor.sh
source "$HERE/lib/floor.sh"
# shellcheck source=loadtest/lib/conns.sh
source "$HERE/lib/conns.sh"

# ---------------------------------------------------------------------------------------------
# Dependencies
# ---------------------------------------------------------------------------------------------
NGINX_BIN="$(command -v nginx || true)"
[[ -z "$NGINX_BIN" && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx
missing=()
[[ -n "$NGINX_BIN" ]] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
if [[ " $CASES " == *" redis "* || " $CASES " == *" lease "* ]]; then
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
fi
if [[ " $CASES " == *" https "* || " $CASES " == *" handshake "* || " $CASES " == *" h2 "* ]]; then
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
fi
if [[ " $CASES " == *" h2 "* ]]; then
    command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
fi
HAPROXY_BIN="$(command -v haproxy || true)"
[[ -z "$HAPROXY_BIN" && -x /usr/sbin/haproxy ]] && HAPROXY_BIN=/usr/sbin/haproxy
if [[ " $CASES " == *" floor "* && -z "$HAPROXY_BIN" ]]; then missing+=(haproxy); fi
if [[ " $CASES " == *" idle "* || " $CASES " == *" sse "* ]]; then
    command -v python3 >/dev/null 2>&1 || missing+=(python3) # the client, loadtest/lib/conns.py
    command -v timeout >/dev/null 2>&1 || missing+=(coreutils)
fi
if ((${#missing[@]})); then
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "loadtest: missing packages; install them with:" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y "${missing[@]}"; then
        apt-get update
        apt-get install -y "${missing[@]}"
    fi
    NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
    [[ -x "$NGINX_BIN" ]] || die "nginx still not found after installing"
    HAPROXY_BIN="$(command -v haproxy || echo /usr/sbin/haproxy)"
    if [[ " $CASES " == *" idle "* || " $CASES " == *" sse "* ]]; then
        command -v python3 >/dev/null 2>&1 || die "python3 still not found after installing"
    fi
fi

# One run per host at a time: two runs would measure each other.
LOCK_FILE="${LOCK_FILE:-/tmp/tollgate-loadtest.lock}"
exec 9>>"$LOCK_FILE"
if ! flock -n 9; then
    log "another load test holds $LOCK_FILE; waiting for it (up to ${LOCK_TIMEOUT:-1800}s)"
    flock -w "${LOCK_TIMEOUT:-1800}" 9 || die "gave up waiting for $LOCK_FILE"
fi

for c in $CASES; do
    [[ " get post llm auth limit redis lease log store prompt https handshake h2 floor idle sse " == *" $c "* ]] ||
        die "unknown case '$c' in CASES (get, post, llm, auth, limit, redis, lease, log, store, prompt, https, handshake, h2, floor, idle, sse)"
done
[[ "$H2_STREAMS" =~ ^[1-9][0-9]*$ ]] || die "H2_STREAMS must be a whole number, not '$H2_STREAMS'"
[[ "$HANDSHAKE_CLIENTS" =~ ^[1-9][0-9]*$ ]] ||
    die "HANDSHAKE_CLIENTS must be a whole number, not '$HANDSHAKE_CLIENTS'"
[[ "$SINK_ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "SINK_ROUNDS must be a whole number of rounds, not '$SINK_ROUNDS'"
want() { [[ " $CASES " == *" $1 "* ]]; }
want_redis() { want redis || want lease; }
want_tls() { want https || want handshake || want h2; }
want_llm() { want llm || want floor; }
for c in $CONNECTIONS; do
    [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be whole numbers, not '$c' (in '$CONNECTIONS')"
done
[[ -n "${CONNECTIONS// /}" ]] || die "CONNECTIONS is empty"
read -r CONN _ <<<"$CONNECTIONS" # wrk -c of the run at hand; the cases other than floor use the first
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a whole number of rounds, not '$ROUNDS'"
if want idle || want sse; then conns_check; fi

ncpu="$(nproc --all)"
[[ "$PROXY_CORES" =~ ^[1-9][0-9]*$ && "$PROXY_CORES" -lt "$ncpu" ]] ||
    die "PROXY_CORES must be 1 to $((ncpu - 1)) on this host ($ncpu CPUs: the load needs one), not '$PROXY_CORES'"
# The proxy on cores 0..N-1, the load (wrk, the upstream) on the rest, unless set by hand.
[[ -n "$PROXY_CPU" ]] || PROXY_CPU="0-$((PROXY_CORES - 1))"
[[ -n "$LOAD_CPU" ]] || LOAD_CPU="$PROXY_CORES-$((ncpu - 1))"
# cpu_list LIST : the CPUs of a taskset list ("0-2,5" -> "0 1 2 5").
cpu_list() {
    local part
    for part in ${1//,/ }; do
        if [[ "$part" == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
    done | tr '\n' ' '
}
for c in ${PROXY_CPU//,/ } ${LOAD_CPU//,/ }; do
    [[ "${c%%-*}" =~ ^[0-9]+$ && "${c#*-}" =~ ^[0-9]+$ && "${c#*-}" -lt "$ncpu" ]] ||
        die "CPU '$c' does not exist on this host ($ncpu CPUs); set PROXY_CPU / LOAD_CPU"
done
LOAD_CPUS=$(wc -w <<<"$(cpu_list "$LOAD_CPU")") # the upstream nginx gets one worker per load CPU
PROXY_CPUS=$(wc -w <<<"$(cpu_list "$PROXY_CPU")")

# ---------------------------------------------------------------------------------------------
# Build tollgate
# ---------------------------------------------------------------------------------------------
src_state() { # commit of the tree being built, "+dirty" if src/ or Cargo.* have local changes
    local rev
    rev="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)" || { echo "unknown revision"; return; }
    git -C "$REPO" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || rev+="+dirty"
    echo "$rev"
}
if [[ -z "$TOLLGATE_BIN" ]]; then
    BUILD_DESC="built from $(src_state)"
    CARGO="$(command -v cargo || true)"
    [[ -z "$CARGO" && -x "$HOME/.cargo/bin/cargo" ]] && CARGO="$HOME/.cargo/bin/cargo"
    [[ -n "$CARGO" ]] || die "cargo not found; install Rust or set TOLLGATE_BIN"
    log "building tollgate: cargo build --release (a build from scratch takes several minutes)"
    (cd "$REPO" && "$CARGO" build --release --bin tollgate)
    TOLLGATE_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/tollgate"
fi
[[ -x "$TOLLGATE_BIN" ]] || die "tollgate binary not found or not executable: $TOLLGATE_BIN"
if want floor && [[ -z "$FLOOR_BIN" ]]; then
    CARGO="${CARGO:-$(command -v cargo || echo "$HOME/.cargo/bin/cargo")}"
    [[ -x "$CARGO" ]] || die "cargo not found; install Rust or set FLOOR_BIN"
    # Its own cargo call: building the example with tollgate's binary would unify their
    # features with the dev-dependencies' and change the tollgate being measured.
    log "building the Pingora floor: cargo build --release --example pingora_floor"
    (cd "$REPO" && "$CARGO" build --release --example pingora_floor)
    FLOOR_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/examples/pingora_floor"
fi
if want floor; then [[ -x "$FLOOR_BIN" ]] || die "pingora_floor binary not found or not executable: $FLOOR_BIN"; fi
BUILD_DESC="${BUILD_DESC:-prebuilt $TOLLGATE_BIN}, binary of $(date -u -r "$TOLLGATE_BIN" '+%Y-%m-%d %H:%M UTC')"

# ---------------------------------------------------------------------------------------------
# Process bookkeeping and cleanup
# ---------------------------------------------------------------------------------------------
TMP="$(mktemp -d /tmp/tollgate-loadtest.XXXXXX)"
chmod 755 "$TMP" # nginx workers run as an unprivileged user when started as root
PIDS=()          # every process this script started (each is its own process-group leader)

cleanup() {
    local rc=$? pid deadline
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        # Whole group first (nginx workers, tollgate children), then the pid itself.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    deadline=$((SECONDS + 10))
    for pid in "${PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid did not stop on SIGTERM; killing it"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
        # Anything left in its process group (e.g. a worker whose master was killed).
        kill -0 -- "-$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ "$KEEP_TMP" == 1 ]]; then
        log "temp dir kept: $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CPU CMD... : starts CMD in the background in its own session, pinned to CPU,
# output to $TMP/NAME.out; sets START_PID.
start() {
    local name=$1 cpu=$2
    shift 2
    setsid taskset -c "$cpu" "$@" >"$TMP/$name.out" 2>&1 9>&- &
    START_PID=$!
    PIDS+=("$START_PID")
}

# ---------------------------------------------------------------------------------------------
# Free loopback ports (outside the ephemeral range, so no outgoing socket holds them)
# ---------------------------------------------------------------------------------------------
USED_PORTS=" "
free_port() { # free_port VAR
    local p i
    for ((i = 0; i < 500; i++)); do
        p=$((20000 + RANDOM % 12000))
        [[ "$USED_PORTS" == *" $p "* ]] && continue
        if ! (exec 3<>"/dev/tcp/$HOST/$p") 2>/dev/null; then
            USED_PORTS+="$p "
            printf -v "$1" '%s' "$p"
            return 0
        fi
    done
    die "could not find a free port on $HOST"
}
free_port UPORT
free_port NPORT
free_port TPORT
free_port APORT
free_port RPORT
free_port NLPORT # log: nginx and tollgate with the access log to a file
free_port TLPORT
free_port ALPORT
free_port TSPORT # store: tollgate with the call store on
free_port ASPORT
free_port NTPORT # https, handshake, h2: the TLS listeners of nginx and tollgate
free_port TTPORT

# wait_for NAME PID CHECK-COMMAND... : polls CHECK until it succeeds, PID dies, or the deadline.
wait_for() {
    local name=$1 pid=$2
    shift 2
    local deadline=$((SECONDS + READY_TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            sed 's/^/    /' "$TMP/$name.out" >&2 || true
            die "$name exited before it was ready (output above)"
        fi
        if ((SECONDS >= deadline)); then
            sed 's/^/    /' "$TMP/$name.out" >&2 || true
            die "$name did not become ready within ${READY_TIMEOUT}s"
        fi
        sleep 0.1
    done
}

SMALL_BODY='hello world'
JSON_BODY='{"ok":true,"id":42,"status":"accepted"}'
# Succeeds when URL answers GET with exactly EXPECTED.
body_is() { [[ "$(curl -s --max-time 2 "$1")" == "$2" ]]; }

# ---------------------------------------------------------------------------------------------
# https, handshake, h2: one certificate for both proxies, ECDSA P-256, self-signed (the load
# tools do not check it; curl is told to trust it)
# ---------------------------------------------------------------------------------------------
CERT="$TMP/cert.pem"
CERT_KEY="$TMP/cert.key"
if want_tls; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -keyout "$CERT_KEY" -out "$CERT" -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:$HOST" >"$TMP/openssl.out" 2>&1 ||
        { cat "$TMP/openssl.out" >&2; die "cannot make the test certificate with openssl"; }
fi
# body_is_tls URL EXPECTED : body_is over TLS, trusting the test certificate.
body_is_tls() { [[ "$(curl -s --max-time 2 --cacert "$CERT" "$1")" == "$2" ]]; }
# http_version URL : the HTTP version curl gets at URL when it offers h2 by ALPN ("2", "1.1").
http_version() { curl -s --max-time 2 --http2 --cacert "$CERT" -o /dev/null -w '%{http_version}' "$1" || true; }
# tls_params PORT : what a default OpenSSL client gets at PORT: protocol, cipher, key exchange.
tls_params() {
    openssl s_client -connect "$HOST:$1" </dev/null 2>/dev/null |
        awk '/^New, / { p = $2 " " $5 } /^Server Temp Key:/ { k = $4 } END { gsub(",", "", p); gsub(",", "", k); print p " " k }'
}
# resumes PORT : "yes" when a second connection to PORT resumes the first one's TLS session.
resumes() {
    local s="$TMP/tls-session-$1" req=$'GET /small HTTP/1.0\r\n\r\n'
    rm -f "$s"
    openssl s_client -connect "$HOST:$1" -sess_out "$s" -ign_eof <<<"$req" >/dev/null 2>&1 || true
    if [[ -s "$s" ]] && openssl s_client -connect "$HOST:$1" -sess_in "$s" -ign_eof <<<"$req" 2>/dev/null |
        grep -q '^Reused'; then
        echo yes
    else
        echo no
    fi
}

# ---------------------------------------------------------------------------------------------
# Request body and wrk script for POST /json
# ---------------------------------------------------------------------------------------------
BODY_FILE="$TMP/body.json"
awk -v size="$BODY_BYTES" 'BEGIN {
    s = "{\"items\":["
    for (i = 1; length(s) < size - 160; i++) {
        if (i > 1) s = s ","
        s = s sprintf("{\"id\":%d,\"name\":\"item-%05d\",\"qty\":%d,\"price\":%d.%02d,\"tags\":[\"a\",\"b\"]}", i, i, i % 7 + 1, i % 100, i % 97)
    }
    s = s "],\"pad\":\""
    tail = "\"}"
    pad = size - length(s) - length(tail)
    for (j = 0; j < pad; j++) s = s "x"
    printf "%s%s", s, tail
}' >"$BODY_FILE"
[[ "$(wc -c <"$BODY_FILE")" -eq "$BODY_BYTES" ]] || die "generated body is not $BODY_BYTES bytes"
if command -v python3 >/dev/null 2>&1; then
    python3 -m json.tool "$BODY_FILE" >/dev/null || die "generated body is not valid JSON"
fi
POST_LUA="$TMP/post_json.lua"
cat >"$POST_LUA" <<EOF
local f = assert(io.open("$BODY_FILE", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
EOF

# ---------------------------------------------------------------------------------------------
# LLM: a chat completion request (about 1 KB: system + user message, model, temperature) and
# the providers' fixed answers (OpenAI chat.completion and Anthropic message, both with usage).
# The answers go inside nginx single quotes: no ' and no $ in them.
# ---------------------------------------------------------------------------------------------
OPENAI_ANSWER='{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1763890000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Your order 48213 shipped on November 20 and should arrive by Tuesday.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":231,"completion_tokens":27,"total_tokens":258,"prompt_tokens_details":{"cached_tokens":0}},"system_fingerprint":"fp_0ba0d124f1"}'
ANTHROPIC_ANSWER='{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Your order 48213 shipped on November 20 and should arrive by Tuesday."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":231,"output_tokens":27,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}'
ANSWER_TEXT='Your order 48213 shipped on November 20 and should arrive by Tuesday.'

# The conversation of every chat request (no " or \ in them: they go into JSON and TOML as is).
SYSTEM_TEXT='You are the customer support assistant of Northwind Outfitters, an online shop for hiking and camping gear. Answer in at most three sentences, in a friendly and factual tone. Use only the order data given in the conversation; if something is not in it, say that you do not know and offer to hand the question to a human agent. Never ask for payment details, passwords or full card numbers, and do not make promises about refunds. Dates are in the customer time zone (Europe/Paris); today is Sunday, November 23.'
USER_TEXT='Hi, I ordered a two-person tent and a pair of trekking poles last week (order 48213, placed on November 17, standard shipping to Lyon). The order page says shipped but the tracking link does not open for me. When will the parcel arrive, and where can I find the tracking number? I am leaving for a trip on Saturday morning and need the tent by then.'
# chat_body MODEL FILE : writes the chat completion request for public model MODEL.
chat_body() {
    printf '%s' '{"model":"'"$1"'","messages":[{"role":"system","content":"'"$SYSTEM_TEXT"'"},{"role":"user","content":"'"$USER_TEXT"'"}],"temperature":0.2,"max_tokens":256}' >"$2"
}
CHAT_GPT="$TMP/chat-gpt.json"
CHAT_CLAUDE="$TMP/chat-claude.json"
chat_body gpt "$CHAT_GPT"
chat_body claude "$CHAT_CLAUDE"
if command -v python3 >/dev/null 2>&1; then
    for f in "$CHAT_GPT" "$CHAT_CLAUDE"; do
        python3 -m json.tool "$f" >/dev/null || die "chat request $f is not valid JSON"
    done
    for a in "$OPENAI_ANSWER" "$ANTHROPIC_ANSWER"; do
        python3 -m json.tool <<<"$a" >/dev/null || die "a fixed provider answer is not valid JSON"
    done
fi
# post_lua FILE LUA : a wrk script that POSTs FILE as JSON.
post_lua() {
    cat >"$2" <<EOF
local f = assert(io.open("$1", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
EOF
}
CHAT_GPT_LUA="$TMP/chat_gpt.lua"
CHAT_CLAUDE_LUA="$TMP/chat_claude.lua"
post_lua "$CHAT_GPT" "$CHAT_GPT_LUA"
post_lua "$CHAT_CLAUDE" "$CHAT_CLAUDE_LUA"
# prompt: the same conversation to the mock's `demo`, as a chat request and as the input of a
# prompt API whose template is that conversation.
PROMPT_CHAT="$TMP/prompt-chat.json"
PROMPT_INPUT="$TMP/prompt-input.json"
chat_body demo "$PROMPT_CHAT"
printf '%s' '{"question":"'"$USER_TEXT"'"}' >"$PROMPT_INPUT"
PROMPT_CHAT_LUA="$TMP/prompt_chat.lua"
PROMPT_API_LUA="$TMP/prompt_api.lua"
post_lua "$PROMPT_CHAT" "$PROMPT_CHAT_LUA"
post_lua "$PROMPT_INPUT" "$PROMPT_API_LUA"

# ---------------------------------------------------------------------------------------------
# Upstream: nginx, one worker, fixed answers
# ---------------------------------------------------------------------------------------------
nginx_common() { # nginx_common DIR WORKERS : the main-context and http-context lines both nginx share
    cat <<EOF
worker_processes $2;
daemon off;
master_process on;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
EOF
}

UDIR="$TMP/upstream"
mkdir -p "$UDIR"
{
    nginx_common "$UDIR" "$LOAD_CPUS"
    cat <<EOF
    server {
        listen $HOST:$UPORT backlog=4096;
        location = /small {
            default_type text/plain;
            return 200 "$SMALL_BODY\n";
        }
        location = /json {
            # return discards (reads) the request body, so the connection stays reusable.
            if (\$request_method != POST) { return 405; }
            default_type application/json;
            return 200 '$JSON_BODY\n';
        }
        # LLM providers: fixed answers to any POST (the request body is read and discarded).
        location = /v1/chat/completions {
            if (\$request_method != POST) { return 405; }
            default_type application/json;
            return 200 '$OPENAI_ANSWER';
        }
        location = /v1/messages {
            if (\$request_method != POST) { return 405; }
            default_type application/json;
            return 200 '$ANTHROPIC_ANSWER';
        }
        location / { return 404; }
    }
}
EOF
} >"$UDIR/nginx.conf"
"$NGINX_BIN" -t -q -p "$UDIR" -e "$UDIR/error.log" -c "$UDIR/nginx.conf" >/dev/null 2>&1 ||
    "$NGINX_BIN" -t -p "$UDIR" -e "$UDIR/error.log" -c "$UDIR/nginx.conf" ||
    die "upstream nginx config invalid"
start upstream "$LOAD_CPU" "$NGINX_BIN" -p "$UDIR" -e "$UDIR/error.log" -c "$UDIR/nginx.conf"
UPSTREAM_PID=$START_PID
wait_for upstream "$UPSTREAM_PID" body_is "http://$HOST:$UPORT/small" "$SMALL_BODY"
log "upstream nginx on $HOST:$UPORT (pid $UPSTREAM_PID, cpu $LOAD_CPU)"

# The upstream must read the 4 KB body and keep the connection: two POSTs over one connection.
check_post() { # check_post NAME URL : POSTs the body twice on one connection
    local name=$1 url=$2 out
    out="$(curl -sv --max-time 5 -H 'Content-Type: application/json' \
        --data-binary "@$BODY_FILE" "$url" "$url" 2>"$TMP/curl.err")" ||
        die "$name: POST $url failed"
    [[ "$out" == "$JSON_BODY"$'\n'"$JSON_BODY" ]] ||
        die "$name: POST $url answered '$out', expected the JSON body twice"
    grep -q '^< HTTP/1.1 200' "$TMP/curl.err" || die "$name: POST $url is not 200"
    [[ "$(grep -c 'Connected to' "$TMP/curl.err")" -eq 1 ]] ||
        die "$name: the connection was not reused after a ${BODY_BYTES}-byte POST"
}
check_post upstream "http://$HOST:$UPORT/json"

# check_llm NAME URL BODY-FILE NEEDLE... : POSTs BODY-FILE twice on one connection; both answers
# must be 200 and contain every NEEDLE, and the connection must be reused.
check_llm() {
    local name=$1 url=$2 body=$3 out needle n
    shift 3
    out="$(curl -sv --max-time 5 -H 'Content-Type: application/json' \
        --data-binary "@$body" "$url" "$url" 2>"$TMP/curl.err")" ||
        die "$name: POST $url failed"
    [[ "$(grep -c '^< HTTP/1.1 200' "$TMP/curl.err")" -eq 2 ]] ||
        die "$name: POST $url did not answer 200 twice: $out"
    for needle in "$@"; do
        n=$(grep -oF -- "$needle" <<<"$out" | wc -l)
        [[ "$n" -eq 2 ]] || die "$name: POST $url: '$needle' not in both answers: $out"
    done
    [[ "$(grep -c 'Connected to' "$TMP/curl.err")" -eq 1 ]] ||
        die "$name: the connection was not reused after a POST to $url"
}
if want_llm; then
    check_llm upstream "http://$HOST:$UPORT/v1/chat/completions" "$CHAT_GPT" "$OPENAI_ANSWER"
    check_llm upstream "http://$HOST:$UPORT/v1/messages" "$CHAT_CLAUDE" "$ANTHROPIC_ANSWER"
fi

# ---------------------------------------------------------------------------------------------
# nginx as the reverse proxy under test
# ---------------------------------------------------------------------------------------------
NDIR="$TMP/nginx-proxy"
mkdir -p "$NDIR"
{
    nginx_common "$NDIR" "$PROXY_CORES"
    cat <<EOF
    upstream up {
        server $HOST:$UPORT;
        keepalive $KEEPALIVE;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }
    server {
        listen $HOST:$NPORT backlog=4096;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    # log: the same, with the access log to a file (nginx's default format, buffered as most
    # deployments do).
    server {
        listen $HOST:$NLPORT backlog=4096;
        access_log $TMP/nginx-access.log combined buffer=64k flush=1s;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
EOF
    if want_tls; then
        # https, handshake, h2: the same proxy over TLS with tollgate's certificate and
        # settings: TLS 1.2 and 1.3, the key exchange groups rustls offers, ALPN h2 and
        # http/1.1, and no session resumption (no cache, no tickets).
        cat <<EOF
    server {
        listen $HOST:$NTPORT ssl http2 backlog=4096;
        ssl_certificate $CERT;
        ssl_certificate_key $CERT_KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ecdh_curve X25519:prime256v1:secp384r1;
        ssl_session_cache off;
        ssl_session_tickets off;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
EOF
    fi
    echo "}"
} >"$NDIR/nginx.conf"
"$NGINX_BIN" -t -q -p "$NDIR" -e "$NDIR/error.log" -c "$NDIR/nginx.conf" >/dev/null 2>&1 ||
    "$NGINX_BIN" -t -p "$NDIR" -e "$NDIR/error.log" -c "$NDIR/nginx.conf" ||
    die "proxy nginx config invalid"
start nginx-proxy "$PROXY_CPU" "$NGINX_BIN" -p "$NDIR" -e "$NDIR/error.log" -c "$NDIR/nginx.conf"
NGINX_PID=$START_PID
wait_for nginx-proxy "$NGINX_PID" body_is "http://$HOST:$NPORT/small" "$SMALL_BODY"
check_post nginx-proxy "http://$HOST:$NPORT/json"
if want_tls; then
    body_is_tls "https://$HOST:$NTPORT/small" "$SMALL_BODY" ||
        die "nginx-proxy: GET https://$HOST:$NTPORT/small does not answer '$SMALL_BODY'"
    [[ "$(http_version "https://$HOST:$NTPORT/small")" == 2 ]] ||
        die "nginx-proxy: no HTTP/2 over TLS (ALPN h2); is curl built with HTTP/2?"
fi
if want_llm; then
    check_llm nginx-proxy "http://$HOST:$NPORT/v1/chat/completions" "$CHAT_GPT" "$OPENAI_ANSWER"
fi
log "nginx proxy on $HOST:$NPORT (pid $NGINX_PID, cpu $PROXY_CPU)"

# ---------------------------------------------------------------------------------------------
# tollgate
# ---------------------------------------------------------------------------------------------
# auth: a fixed key of the seed (id and secret are only ever used here, on loopback).
KEY_ID=loadtest0001
KEY_SECRET=Lt0adTestSecretKey0123456789abcd
API_KEY="tg_${KEY_ID}_${KEY_SECRET}"
KEY_SHA256="$(printf '%s' "$KEY_SECRET" | sha256sum | cut -d' ' -f1)"
TCONF="$TMP/tollgate.toml"
cat >"$TCONF" <<EOF
[server]
listen = ["$HOST:$TPORT"]
workers = $PROXY_CORES
threads = 1
lean_http1 = $LEAN

[admin]
listen = "$HOST:$APORT"
token = "x"

[log]
access = "off"
level = "warn"

[[upstreams]]
name = "up"
targets = ["$HOST:$UPORT"]
keepalive = $KEEPALIVE

[[routes]]
name = "all"
path_prefix = "/"
upstream = "up"

# auth: the same upstream behind an API key (checked in memory; the store is read off-path),
# and its twin without the key, so the runs differ by the key check only.
[[routes]]
name = "open"
path_prefix = "/open"
strip_prefix = true
upstream = "up"

# limit: the same again with a local limit that never refuses (every request is decided).
[[limits]]
name = "never"
rate = 1000000000
period = "1s"
key = ["client_ip"]

[[routes]]
name = "limited"
path_prefix = "/limited"
strip_prefix = true
upstream = "up"
limits = ["never"]

[store]
path = "$TMP/tollgate.db"

[[routes]]
name = "keyed"
path_prefix = "/keyed"
strip_prefix = true
upstream = "up"
[routes.api]
auth = "api_key"

[[tenants]]
name = "loadtest"
[[tenants.apps]]
name = "wrk"
subscriptions = ["keyed"]
[[tenants.apps.keys]]
id = "$KEY_ID"
sha256 = "$KEY_SHA256"

# LLM: both providers are the upstream nginx's fixed answers.
[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"

[[providers]]
name = "openai"
kind = "openai"
base_url = "http://$HOST:$UPORT/v1"
api_key = "sk-loadtest"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "http://$HOST:$UPORT"
api_key = "sk-ant-loadtest"

[[models]]
name = "gpt"
deployments = [{ provider = "openai", model = "gpt-4o-mini" }]

[[models]]
name = "claude"
deployments = [{ provider = "anthropic", model = "claude-sonnet-4-5" }]
EOF
if want prompt; then
    cat >>"$TCONF" <<EOF

# prompt: the in-process mock, called through a prompt API and through the chat API.
[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "demo"
deployments = [{ provider = "mock", model = "mock-1" }]

[[prompts]]
name = "support"
path = "/prompts/support"
model = "demo"
temperature = 0.2
max_tokens = 256
input = { type = "object", required = ["question"], properties = { question = { type = "string", maxLength = 4000 } } }
messages = [
  { role = "system", content = "$SYSTEM_TEXT" },
  { role = "user", content = "{{question}}" },
]
EOF
fi
if want_redis; then
    # redis / lease: a cluster limit that never refuses, in a redis-server beside wrk.
    start redis "$LOAD_CPU" redis-server --bind "$HOST" --port "$RPORT" --save "" --appendonly no
    redis_ready() {
        [[ "$(timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$RPORT; printf 'PING\r\n' >&3; head -c 5 <&3")" == "+PONG" ]]
    }
    wait_for redis "$START_PID" redis_ready
    cat >>"$TCONF" <<EOF

[redis]
url = "redis://$HOST:$RPORT"

[[limits]]
name = "never-redis"
rate = 1000000000
period = "1s"
key = ["client_ip"]
scope = "cluster"

[[routes]]
name = "redis"
path_prefix = "/redis"
strip_prefix = true
upstream = "up"
limits = ["never-redis"]

[[limits]]
name = "never-leased"
rate = 1000000000
period = "1s"
key = ["client_ip"]
scope = "cluster"
sync = "lease"
lease = 1000

[[routes]]
name = "lease"
path_prefix = "/lease"
strip_prefix = true
upstream = "up"
limits = ["never-leased"]
EOF
fi
# The measured gateway also listens with TLS for https, handshake and h2 (the log and store
# gateways below are made from $TCONF, without it).
TMAIN="$TCONF"
if want_tls; then
    TMAIN="$TMP/tollgate-tls.toml"
    { sed "s|^listen = \[\"$HOST:$TPORT\"\]\$|listen = [\"$HOST:$TPORT\", { addr = \"$HOST:$TTPORT\", tls = true }]|" "$TCONF"
      printf '\n[[tls.certificates]]\ncert = "%s"\nkey = "%s"\ndefault = true\n' "$CERT" "$CERT_KEY"; } >"$TMAIN"
    grep -q "tls = true" "$TMAIN" || die "https: cannot make the TLS configuration"
fi
start tollgate "$PROXY_CPU" "$TOLLGATE_BIN" run -c "$TMAIN"
TOLLGATE_PID=$START_PID
tollgate_ready() { # tollgate_ready [ADMIN-PORT]
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        "http://$HOST:${1:-$APORT}/readyz" -H 'Authorization: Bearer x')" == 200 ]]
}
wait_for tollgate "$TOLLGATE_PID" tollgate_ready
if want log; then
    # log: a second gateway, the same configuration but for its ports, its store and the access
    # log to a file.
    sed -e "s|$HOST:$TPORT|$HOST:$TLPORT|; s|$HOST:$APORT|$HOST:$ALPORT|" \
        -e "s|^access = \"off\"|access = \"$TMP/tollgate-access.log\"|" \
        -e "s|$TMP/tollgate.db|$TMP/tollgate-log.db|" "$TCONF" >"$TMP/tollgate-log.toml"
    grep -q "tollgate-access.log" "$TMP/tollgate-log.toml" || die "log: cannot make the logging config"
    start tollgate-log "$PROXY_CPU" "$TOLLGATE_BIN" run -c "$TMP/tollgate-log.toml"
    wait_for tollgate-log "$START_PID" tollgate_ready "$ALPORT"
fi
if want store; then
    # store: a third gateway, the same configuration but for its ports, its store and a call
    # store ([log.store]) in the temp dir; the access log stays off.
    { sed -e "s|$HOST:$TPORT|$HOST:$TSPORT|; s|$HOST:$APORT|$HOST:$ASPORT|" \
        -e "s|$TMP/tollgate.db|$TMP/tollgate-store.db|" "$TCONF"
      printf '\n[log.store]\npath = "%s"\n' "$TMP/calls.db"; } >"$TMP/tollgate-store.toml"
    start tollgate-store "$PROXY_CPU" "$TOLLGATE_BIN" run -c "$TMP/tollgate-store.toml"
    wait_for tollgate-store "$START_PID" tollgate_ready "$ASPORT"
fi
body_is "http://$HOST:$TPORT/small" "$SMALL_BODY" ||
    die "tollgate is ready but GET /small does not answer '$SMALL_BODY'"
TOLLGATE_H2=no
if want_tls; then
    body_is_tls "https://$HOST:$TTPORT/small" "$SMALL_BODY" ||
        die "tollgate: GET https://$HOST:$TTPORT/small does not answer '$SMALL_BODY'"
    [[ "$(http_version "https://$HOST:$TTPORT/small")" == 2 ]] && TOLLGATE_H2=yes
fi
check_post tollgate "http://$HOST:$TPORT/json"
if want_llm; then
    check_llm tollgate "http://$HOST:$TPORT/v1/chat/completions" "$CHAT_GPT" \
        '"object":"chat.completion"' "$ANSWER_TEXT" '"total_tokens":258'
    check_llm tollgate "http://$HOST:$TPORT/v1/chat/completions" "$CHAT_CLAUDE" \
        '"object":"chat.completion"' "$ANSWER_TEXT" '"total_tokens":258'
fi
if want prompt; then
    check_llm tollgate "http://$HOST:$TPORT/v1/chat/completions" "$PROMPT_CHAT" \
        '"object":"chat.completion"' '"total_tokens"'
    check_llm tollgate "http://$HOST:$TPORT/prompts/support" "$PROMPT_INPUT" '"output":' '"usage":'
fi
if want auth; then
    body_is_with_key() {
        [[ "$(curl -s --max-time 2 -H "Authorization: Bearer $API_KEY" "$1")" == "$2" ]]
    }
    body_is_with_key "http://$HOST:$TPORT/keyed/small" "$SMALL_BODY" ||
        die "tollgate: GET /keyed/small with the seeded key does not answer '$SMALL_BODY'"
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$HOST:$TPORT/keyed/small")" == 401 ]] ||
        die "tollgate: GET /keyed/small without a key is not 401"
fi
log "tollgate on $HOST:$TPORT, admin $HOST:$APORT (pid $TOLLGATE_PID, cpu $PROXY_CPU)"
if want floor; then floor_start; fi

# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------
mkdir -p "$RESULTS/raw"
rm -f "$RESULTS"/raw/*.txt

# Busy jiffies and total jiffies of the CPUs of a taskset list, summed, from /proc/stat.
cpu_ticks() {
    awk -v cs=" $(cpu_list "$1")" '$1 ~ /^cpu[0-9]/ && index(cs, " " substr($1, 4) " ") {
        t = 0; for (i = 2; i <= 9; i++) t += $i; busy += t - $5 - $6; all += t
    } END { print busy + 0, all + 0 }' /proc/stat
}

# CPU ticks (user+system, including reaped children) used so far by this script and by every
# process group it started; with all_busy, tells how much CPU other processes took during a run.
our_ticks() {
    local g p t=0 v
    for p in $$ $(for g in "${PIDS[@]}"; do pgrep -g "$g" || true; done); do
        v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }') || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
all_busy() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6 }' /proc/stat; }

# to_ms VALUE : wrk latency ("512.00us", "1.23ms", "1.01s") in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n
    }'
}

ROWS=()    # markdown rows
NOTES=()   # warnings and CPU usage lines
declare -A RPS

# handshakes DURATION HOST:PORT : HANDSHAKE_CLIENTS `openssl s_time -new` clients at once on
# LOAD_CPU, each opening one connection after another for DURATION, with a full handshake (-new:
# no session is offered again, which wrk would do: it keeps the session across its reconnects)
# and one `GET /small HTTP/1.0` each. Prints the connections per second of wall time, summed,
# as "Requests/sec:", and each client's own lines.
handshakes() {
    local secs addr=$2 i t0 t1 n pids=()
    # s_time takes whole seconds: "10s" -> 10, "1m" -> 60, "500ms" -> 1.
    secs=$(awk -v d="$1" 'BEGIN { n = d + 0; u = d; sub(/^[0-9.]+/, "", u)
        if (u == "m") n *= 60; else if (u == "ms") n /= 1000; else if (u == "h") n *= 3600
        n = int(n + 0.999); print (n < 1) ? 1 : n }')
    local dir
    dir="$(mktemp -d "$TMP/s_time.XXXXXX")"
    t0=$(date +%s.%N)
    for ((i = 0; i < HANDSHAKE_CLIENTS; i++)); do
        taskset -c "$LOAD_CPU" openssl s_time -connect "$addr" -new -time "$secs" -www /small \
            >"$dir/$i" 2>&1 </dev/null &
        pids+=($!)
    done
    wait "${pids[@]}" || true
    t1=$(date +%s.%N)
    n=$(cat "$dir"/* | awk '/connections in .* real seconds/ { n += $1 } END { print n + 0 }')
    awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "Connections: %d in %.2fs\nRequests/sec: %.2f\n", n, b - a, (b > a) ? n / (b - a) : 0 }'
    grep -h 'connections' "$dir"/* || true
    rm -rf "$dir"
}

# load TOOL DURATION URL [args...] : one run of the load tool (wrk; h2load for the h2 case;
# handshakes for the handshake case, URL being HOST:PORT), its output to stdout.
load() {
    local tool=$1 dur=$2 url=$3
    shift 3
    case $tool in
    wrk) taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONN" -d"$dur" --latency "$@" "$url" ;;
    h2load) taskset -c "$LOAD_CPU" h2load -t"$THREADS" -c"$CONN" -m"$H2_STREAMS" \
        -D"$dur" "$@" "$url" ;;
    handshakes) handshakes "$dur" "$url" ;;
    esac
}

LOAD_TOOL=wrk # the tool `measure` runs; set for one call: LOAD_TOOL=h2load measure ...
CPU_PGID=     # set for one call: the proxy's process group, whose CPU time per request is taken
MEASURE_ROW=1 # 0 for one call: no row in the main table (the floor case has its own)

# measure CASE PROXY URL [wrk args...] : one warm-up and one measured run; sets LAST_RPS,
# LAST_BUSY (proxy CPU %, load CPU %, other processes %) and, with CPU_PGID, LAST_CPU (user and
# kernel microseconds per request).
measure() {
    local case=$1 proxy=$2 url=$3
    shift 3
    local tag raw t0 t1 p0 p1 l0 l1 o0 o1 a0 a1 other rps p50 p99 errs non2xx busy_proxy busy_load
    local tool=$LOAD_TOOL c0 c1
    tag="$(printf '%s-%s' "$case" "$proxy" | tr 'A-Z /' 'a-z__' | tr -s '_')"
    raw="$RESULTS/raw/$tag.txt"
    log "$case via $proxy: warm-up $WARMUP"
    load "$tool" "$WARMUP" "$url" "$@" >/dev/null
    log "$case via $proxy: measuring $DURATION with $tool (-t$THREADS -c$CONN)"
    o0=$(our_ticks)
    a0=$(all_busy)
    read -r p0 t0 < <(cpu_ticks "$PROXY_CPU")
    read -r l0 _ < <(cpu_ticks "$LOAD_CPU")
    [[ -z "$CPU_PGID" ]] || c0=$(group_ticks "$CPU_PGID")
    load "$tool" "$DURATION" "$url" "$@" >"$raw"
    [[ -z "$CPU_PGID" ]] || c1=$(group_ticks "$CPU_PGID")
    read -r p1 t1 < <(cpu_ticks "$PROXY_CPU")
    read -r l1 _ < <(cpu_ticks "$LOAD_CPU")
    a1=$(all_busy)
    o1=$(our_ticks)
    # t0..t1 spans the proxy CPUs' clocks, PROXY_CPUS of them: "other" is in % of one CPU.
    other=$(awk -v a="$((a1 - a0))" -v o="$((o1 - o0))" -v t="$t0" -v u="$t1" -v n="$PROXY_CPUS" 'BEGIN { printf "%.0f", (u > t && a > o) ? 100 * n * (a - o) / (u - t) : 0 }')
    busy_proxy=$(awk -v a="$p0" -v b="$p1" -v t="$t0" -v u="$t1" 'BEGIN { printf "%.0f", (u > t) ? (b - a < u - t ? 100 * (b - a) / (u - t) : 100) : 0 }')
    busy_load=$(awk -v a="$l0" -v b="$l1" -v t="$t0" -v u="$t1" 'BEGIN { printf "%.0f", (u > t) ? (b - a < u - t ? 100 * (b - a) / (u - t) : 100) : 0 }')

    case $tool in
    wrk)
        rps=$(awk '/^Requests\/sec:/ { print $2 }' "$raw")
        p50=$(awk '$1 == "50%" { print $2 }' "$raw")
        p99=$(awk '$1 == "99%" { print $2 }' "$raw")
        ;;
    h2load) # no percentiles: the mean and the max time for a request go to the notes
        rps=$(awk '/^finished in/ { gsub(",", ""); print $4 }' "$raw")
        p50=- p99=-
        NOTES+=("- $case via $proxy: h2load time for request: $(awk '/^time for request:/ { print "min " $4 ", max " $5 ", mean " $6 }' "$raw")")
        ;;
    handshakes)
        rps=$(awk '/^Requests\/sec:/ { print $2 }' "$raw")
        p50=- p99=-
        [[ "${rps%.*}" -gt 0 ]] || { cat "$raw" >&2; die "$case via $proxy: no connection made ($raw)"; }
        ;;
    esac
    [[ -n "$rps" && -n "$p50" && -n "$p99" ]] || { cat "$raw" >&2; die "cannot parse $tool output ($raw)"; }
    RPS["$case|$proxy"]=$rps
    LAST_RPS=$rps
    LAST_BUSY="$busy_proxy $busy_load $other"
    [[ -z "$CPU_PGID" ]] || LAST_CPU=$(per_request "$c0" "$c1" "$(awk '/ requests in / { print $1 }' "$raw")")
    ms() { if [[ "$1" == - ]]; then echo -; else echo "$(to_ms "$1") ms"; fi; }
    if ((MEASURE_ROW)); then
        ROWS+=("| $case | $proxy | $(printf '%.0f' "$rps") | $(ms "$p50") | $(ms "$p99") |")
        NOTES+=("- $case via $proxy: CPU busy: proxy CPU $PROXY_CPU ${busy_proxy}%, load CPU $LOAD_CPU ${busy_load}%, other processes ${other}% of a CPU")
    fi
    ((other < OTHER_CPU_WARN)) ||
        NOTES+=("- **WARNING** $case via $proxy: other processes used ${other}% of a CPU during the run; the numbers are disturbed")
    non2xx=$(awk -F': ' '/Non-2xx or 3xx responses/ { print $2 }' "$raw")
    errs=$(grep -m1 'Socket errors' "$raw" | sed 's/^ *//' || true)
    if [[ "$tool" == h2load ]]; then
        non2xx=$(awk '/^status codes:/ { n = $5 + $7 + $9; if (n) print n }' "$raw")
        errs=$(awk '/^requests:/ { if ($10 + $12 + $14) printf "%d failed, %d errored, %d timeout", $10, $12, $14 }' "$raw")
    fi
    [[ -n "$non2xx" ]] && NOTES+=("- **WARNING** $case via $proxy: $non2xx non-2xx/3xx responses")
    [[ -n "$errs" ]] && NOTES+=("- **WARNING** $case via $proxy: $errs")
    return 0
}

declare -A URL=([nginx]="http://$HOST:$NPORT" [tollgate]="http://$HOST:$TPORT")
if want get; then
    for proxy in nginx tollgate; do
        measure "GET /small" "$proxy" "${URL[$proxy]}/small"
    done
fi
if want post; then
    for proxy in nginx tollgate; do
        measure "POST /json" "$proxy" "${URL[$proxy]}/json" -s "$POST_LUA"
    done
fi
if want llm; then
    # nginx-llm: nginx proxies the chat request to the fixed OpenAI answer (no LLM logic).
    # llm-openai: tollgate, model gpt -> openai provider (same format: body passed through,
    # model name spliced). llm-anthropic: model claude -> anthropic provider (request and
    # response translated).
    measure nginx-llm nginx "${URL[nginx]}/v1/chat/completions" -s "$CHAT_GPT_LUA"
    measure llm-openai tollgate "${URL[tollgate]}/v1/chat/completions" -s "$CHAT_GPT_LUA"
    measure llm-anthropic tollgate "${URL[tollgate]}/v1/chat/completions" -s "$CHAT_CLAUDE_LUA"
fi

# twins CASE PATH : GET /small on the open twin route and on PATH, in four rounds that
# alternate which goes first (a drift over the run then weighs on both alike), both with the
# same Authorization header so they carry the same bytes.
twins() {
    local case=$1 path=$2 round kind order url
    for round in 1 2 3 4; do
        order="open $case"
        ((round % 2)) || order="$case open"
        for kind in $order; do
            url="${URL[tollgate]}$path/small"
            [[ "$kind" == open ]] && url="${URL[tollgate]}/open/small"
            measure "$case: $kind $round" tollgate "$url" -H "Authorization: Bearer $API_KEY"
        done
    done
}
twin_ratio() { # twin_ratio CASE GOAL : sum over the rounds of CASE / sum of its open twin
    local case=$1 goal=$2 a=0 b=0 round
    for round in 1 2 3 4; do
        a=$(awk -v x="$a" -v y="${RPS["$case: $case $round|tollgate"]}" 'BEGIN { print x + y }')
        b=$(awk -v x="$b" -v y="${RPS["$case: open $round|tollgate"]}" 'BEGIN { print x + y }')
    done
    awk -v a="$a" -v b="$b" -v c="$case" -v g="$goal" \
        'BEGIN { printf "%s: req/s against the open twin route = %.3f over four rounds (goal %s)\n", c, (b > 0) ? a / b : 0, g }'
}
# rounds CASE PROXY KIND-A URL-A LUA-A KIND-B URL-B LUA-B : SINK_ROUNDS rounds, each measuring
# URL-A and URL-B back to back (which goes first alternates); LUA "-" is a plain GET.
rounds() {
    local case=$1 proxy=$2 round kind order url lua
    for round in $(seq "$SINK_ROUNDS"); do
        order="$3 $6"
        ((round % 2)) || order="$6 $3"
        for kind in $order; do
            if [[ "$kind" == "$3" ]]; then url=$4 lua=$5; else url=$7 lua=$8; fi
            if [[ "$lua" == - ]]; then
                measure "$case: $kind $round" "$proxy" "$url"
            else
                measure "$case: $kind $round" "$proxy" "$url" -s "$lua"
            fi
        done
    done
}
# sink_twins CASE PROXY OFF-URL ON-URL : GET /small with a sink (the access log to a file, the
# call store) off and on.
sink_twins() { rounds "$1" "$2" off "$3/small" - on "$4/small" -; }
# median_line LABEL NOTE : reads "A B" lines, one per round, and prints LABEL = the median of the
# rounds' A / B, each round's ratio and the ratio of the sums, then NOTE. Each round measures
# both back to back, so its ratio is free of the drift between rounds, and one disturbed run
# moves the median little.
median_line() {
    awk -v l="$1" -v n="$2" '
        { on += $1; off += $2; r[NR] = ($2 > 0) ? $1 / $2 : 0; each = each sprintf(" %.2f", r[NR]) }
        END {
            for (i = 2; i <= NR; i++) for (j = i; j > 1 && r[j - 1] > r[j]; j--) { t = r[j]; r[j] = r[j - 1]; r[j - 1] = t }
            m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
            printf "%s = %.3f, the median of %d rounds (each:%s; sums: %.3f)%s\n", l, m, NR, each, (off > 0) ? on / off : 0, n
        }'
}
# round_ratio CASE PROXY KIND-A KIND-B WHAT NOTE : req/s of KIND-A / KIND-B over SINK_ROUNDS
# rounds (`rounds`).
round_ratio() {
    local case=$1 proxy=$2 a=$3 b=$4 round
    for round in $(seq "$SINK_ROUNDS"); do
        echo "${RPS["$case: $a $round|$proxy"]} ${RPS["$case: $b $round|$proxy"]}"
    done | median_line "$case: $proxy req/s $5" "$6"
}
# versus CASE URL-NGINX URL-TOLLGATE [args...] : ROUNDS rounds of CASE on nginx and on tollgate
# back to back, which goes first alternating (LOAD_TOOL as set for the call).
versus() {
    local case=$1 round proxy order
    local -A url=([nginx]=$2 [tollgate]=$3)
    shift 3
    for round in $(seq "$ROUNDS"); do
        order="nginx tollgate"
        ((round % 2)) || order="tollgate nginx"
        for proxy in $order; do
            measure "$case $round" "$proxy" "${url[$proxy]}" "$@"
        done
    done
}
# versus_ratio CASE WHAT NOTE : tollgate's req/s / nginx's over the rounds of `versus`.
versus_ratio() {
    local round
    for round in $(seq "$ROUNDS"); do
        echo "${RPS["$1 $round|tollgate"]} ${RPS["$1 $round|nginx"]}"
    done | median_line "$1: tollgate/nginx $2" "$3"
}
sink_ratio() { round_ratio "$1" "$2" on off "with $3 / off" "$4"; }
if want auth; then twins auth /keyed; fi
if want limit; then twins limit /limited; fi
if want redis; then twins redis /redis; fi
if want lease; then twins lease /lease; fi
if want log; then
    sink_twins log nginx "${URL[nginx]}" "http://$HOST:$NLPORT"
    sink_twins log tollgate "${URL[tollgate]}" "http://$HOST:$TLPORT"
fi
if want store; then sink_twins store tollgate "${URL[tollgate]}" "http://$HOST:$TSPORT"; fi
if want prompt; then
    rounds prompt tollgate chat "${URL[tollgate]}/v1/chat/completions" "$PROMPT_CHAT_LUA" \
        api "${URL[tollgate]}/prompts/support" "$PROMPT_API_LUA"
fi
declare -A TLS_PORT=([nginx]="$NTPORT" [tollgate]="$TTPORT")
if want_tls; then
    for proxy in nginx tollgate; do
        NOTES+=("- TLS of $proxy to an OpenSSL client: $(tls_params "${TLS_PORT[$proxy]}")")
    done
fi
if want https; then
    versus https "https://$HOST:$NTPORT/small" "https://$HOST:$TTPORT/small"
fi
if want handshake; then
    for proxy in nginx tollgate; do
        NOTES+=("- handshake: $proxy resumes a TLS session when offered one: $(resumes "${TLS_PORT[$proxy]}") (s_time -new never offers one, so every handshake is full)")
    done
    LOAD_TOOL=handshakes versus handshake "$HOST:$NTPORT" "$HOST:$TTPORT"
fi
if want h2; then
    if [[ "$TOLLGATE_H2" == yes ]]; then
        LOAD_TOOL=h2load versus h2 "https://$HOST:$NTPORT/small" "https://$HOST:$TTPORT/small"
    else
        LOAD_TOOL=h2load measure h2 nginx "https://$HOST:$NTPORT/small"
        NOTES+=("- h2: tollgate does not offer HTTP/2 (ALPN h2) on its TLS listener; nginx alone was measured")
    fi
fi

if want floor; then
    floor_compare
    floor_report >"$RESULTS/floor.md"
fi
if want idle; then idle_case; fi
if want sse; then sse_case; fi
if want idle || want sse; then conns_report >"$RESULTS/conns.md"; fi

# Tollgate's own view (status counts etc.), and its process log, for the record.
curl -s --max-time 5 "http://$HOST:$APORT/metrics" -H 'Authorization: Bearer x' \
    >"$RESULTS/raw/tollgate-metrics.txt" || true
cp "$TMP/tollgate.out" "$RESULTS/raw/tollgate-output.txt"
tlines=$(wc -l <"$TMP/tollgate.out")
((tlines > 20)) && NOTES+=("- **WARNING** tollgate wrote $tlines lines of process output during the run (see results/raw/tollgate-output.txt)")

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
ratio() { # ratio CASE [BASELINE-CASE] : req/s of tollgate on CASE / nginx on BASELINE-CASE
    awk -v a="${RPS["$1|tollgate"]}" -v b="${RPS["${2:-$1}|nginx"]}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'
}
{
    echo "# tollgate vs nginx (reverse proxy), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "wrk -t$THREADS -c$CONN -d$DURATION --latency (warm-up $WARMUP); proxy on CPU $PROXY_CPU," \
        "wrk + upstream nginx on CPU $LOAD_CPU; POST /json body $BODY_BYTES bytes JSON;" \
        "LLM chat request $(wc -c <"$CHAT_GPT") bytes, fixed answers of $(printf '%s' "$OPENAI_ANSWER" | wc -c) (OpenAI)" \
        "and $(printf '%s' "$ANTHROPIC_ANSWER" | wc -c) (Anthropic) bytes."
    echo "tollgate ($BUILD_DESC): workers=$PROXY_CORES threads=1 access log off;" \
        "nginx $("$NGINX_BIN" -v 2>&1 | sed 's/.*nginx\///'): $PROXY_CORES worker(s), upstream keepalive $KEEPALIVE."
    echo
    if ((${#ROWS[@]})); then
        echo "| case | proxy | req/s | p50 | p99 |"
        echo "|---|---|---:|---:|---:|"
        printf '%s\n' "${ROWS[@]}"
        echo
    fi
    if want get; then echo "GET /small: tollgate/nginx req/s = $(ratio "GET /small")"; fi
    if want post; then echo "POST /json: tollgate/nginx req/s = $(ratio "POST /json")"; fi
    if want llm; then
        echo "llm-openai/nginx-llm req/s = $(ratio llm-openai nginx-llm) (goal 0.8)"
        echo "llm-anthropic/nginx-llm req/s = $(ratio llm-anthropic nginx-llm) (goal 0.6)"
    fi
    if want auth; then twin_ratio auth 0.95; fi
    if want limit; then twin_ratio limit 0.97; fi
    if want redis; then twin_ratio redis 0.7; fi
    if want lease; then twin_ratio lease 0.9; fi
    if want log; then
        sink_ratio log nginx "the access log to a file" ""
        sink_ratio log tollgate "the access log to a file" " (goal 0.95)"
    fi
    if want store; then sink_ratio store tollgate "the call store" " (goal 0.9)"; fi
    if want prompt; then
        round_ratio prompt tollgate api chat "of the prompt API / the same chat request" " (goal 0.9)"
    fi
    if want https; then versus_ratio https "req/s" " (goal 0.8)"; fi
    if want handshake; then
        versus_ratio handshake "new TLS connections/s" \
            " (goal 0.8; $HANDSHAKE_CLIENTS openssl s_time -new clients)"
    fi
    if want h2 && [[ "$TOLLGATE_H2" == yes ]]; then
        versus_ratio h2 "req/s" " (goal 0.8; h2load -m$H2_STREAMS)"
    elif want h2; then
        echo "h2: nginx only (tollgate offers no HTTP/2 yet)"
    fi
    if want floor; then cat "$RESULTS/floor.md"; fi
    if want idle || want sse; then cat "$RESULTS/conns.md"; fi
    echo
    printf '%s\n' "${NOTES[@]}"
} | tee "$RESULTS/latest.md"
log "written: $RESULTS/latest.md (raw wrk output in $RESULTS/raw/)"
