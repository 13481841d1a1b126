# shellcheck shell=bash
# The `idle` and `sse` cases of loadtest/run.sh (issue 17, point 4): many connections and
# streams at once, and what they cost in memory. Not timing measurements: the proxies run on
# every CPU, the client (loadtest/lib/conns.py, asyncio) beside them.
# - idle: IDLE_CONNS keep-alive connections to tollgate, and to nginx as the reference, each
#   with one GET /small through a route to the upstream, held IDLE_HOLD seconds, then checked
#   (still open, a second request served on IDLE_SAMPLE of them); the RSS of every worker before
#   and after, at each count of IDLE_WORKERS. Goal: growth under IDLE_GOAL_MB per worker.
# - sse: SSE_STREAMS streamed chat requests at once to tollgate's in-process mock provider
#   (SSE_WORKERS workers, each stream SSE_CHUNKS chunks SSE_CHUNK_DELAY apart); every stream must
#   end with [DONE] and carry no error. Reports completed / failed, peak RSS per worker, the time
#   to the first byte (p50, p99).
# Sourced by run.sh, which defines log, die, start, wait_for, free_port, body_is and the rest.

IDLE_CONNS="${IDLE_CONNS:-10000}"       # idle: client connections held (all workers together)
IDLE_HOLD="${IDLE_HOLD:-30}"            # idle: seconds they are held
IDLE_WORKERS="${IDLE_WORKERS:-1 2}"     # idle: worker counts to run (tollgate and nginx alike)
IDLE_SAMPLE="${IDLE_SAMPLE:-1000}"      # idle: connections that send a second request after the hold
IDLE_GOAL_MB="${IDLE_GOAL_MB:-100}"     # idle: RSS growth allowed per worker (issue 17)
SSE_STREAMS="${SSE_STREAMS:-5000}"      # sse: streams at once
SSE_WORKERS="${SSE_WORKERS:-2}"         # sse: tollgate workers
SSE_CHUNKS="${SSE_CHUNKS:-20}"          # sse: text chunks per stream (8 characters each)
SSE_CHUNK_DELAY="${SSE_CHUNK_DELAY:-500ms}" # sse: the mock's chunk_delay, before each text chunk
CONNS_SOURCES="${CONNS_SOURCES:-4}"     # idle, sse: client source addresses 127.0.0.2..(N+1)
CONNS_CONNECTS="${CONNS_CONNECTS:-256}" # idle, sse: connects under way at once in the client

CONNS_PY="$HERE/lib/conns.py"
ALL_CPU="0-$(($(nproc --all) - 1))" # not timing runs: the proxies may use every CPU
CONNS_REPORT=()   # markdown lines of both cases, in run order
CONNS_VERDICT=()  # one line per run: its goal met or not
declare -A CR     # the key=value lines of the client's last run

# conns_check : validates the knobs of the cases in CASES and raises the open-files limit this
# shell (and so every process it starts) may use, as root when the hard limit is too low.
conns_check() {
    local k need have
    for k in IDLE_CONNS IDLE_HOLD IDLE_SAMPLE IDLE_GOAL_MB SSE_STREAMS SSE_WORKERS SSE_CHUNKS CONNS_SOURCES CONNS_CONNECTS; do
        [[ "${!k}" =~ ^[0-9]+$ ]] || die "$k must be a whole number, not '${!k}'"
    done
    for k in $IDLE_WORKERS $SSE_WORKERS; do
        [[ "$k" =~ ^[1-9][0-9]?$ ]] || die "IDLE_WORKERS / SSE_WORKERS must be 1 to 99, not '$k'"
    done
    ((IDLE_CONNS > 0 && SSE_STREAMS > 0 && SSE_CHUNKS > 0)) || die "IDLE_CONNS, SSE_STREAMS and SSE_CHUNKS must be at least 1"
    ((CONNS_SOURCES >= 1 && CONNS_SOURCES <= 250)) || die "CONNS_SOURCES must be 1 to 250, not $CONNS_SOURCES"
    [[ "$SSE_CHUNK_DELAY" =~ ^[0-9]+(ms|s)$ ]] || die "SSE_CHUNK_DELAY must be like 500ms or 1s, not '$SSE_CHUNK_DELAY'"
    # The client holds one descriptor per connection, and so does a proxy with one worker (plus
    # its upstream connections, listeners and files).
    need=$(( (IDLE_CONNS > SSE_STREAMS ? IDLE_CONNS : SSE_STREAMS) + 4096 ))
    have=$(ulimit -Sn)
    if [[ "$have" != unlimited ]] && ((have < need)); then
        if [[ "$(ulimit -Hn)" != unlimited ]] && (($(ulimit -Hn) < need)); then
            ulimit -Hn "$need" 2>/dev/null ||
                die "the open-files limit is $(ulimit -Hn) (hard) and the idle/sse cases need $need;" \
                    "raise it (ulimit -Hn $need as root, or LimitNOFILE= / limits.conf) or lower IDLE_CONNS / SSE_STREAMS"
        fi
        ulimit -Sn "$need"
    fi
    log "idle/sse: open-files limit $(ulimit -Sn) (needed $need)"
}

# conns_sources : the client's source addresses, comma-separated (127.0.0.2 ...): loopback
# answers on all of 127/8, and each address brings its own range of ports.
conns_sources() {
    local i out=""
    for ((i = 2; i < CONNS_SOURCES + 2; i++)); do out+="${out:+,}127.0.0.$i"; done
    echo "$out"
}

# stop_group PID : stops a process group started by `start` (SIGTERM, then SIGKILL after 15s),
# so that the next run starts on a quiet host. cleanup() still covers it on any exit.
stop_group() {
    local deadline=$((SECONDS + 15))
    kill -TERM -- "-$1" 2>/dev/null || true
    while kill -0 -- "-$1" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL -- "-$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# worker_pids MASTER N : waits until MASTER has N children (its workers) and prints their pids,
# comma-separated.
worker_pids() {
    local deadline=$((SECONDS + READY_TIMEOUT)) pids
    while :; do
        pids=$(pgrep -P "$1" | paste -sd, -)
        [[ -n "$pids" && $(tr ',' '\n' <<<"$pids" | wc -l) -eq "$2" ]] && { echo "$pids"; return 0; }
        kill -0 "$1" 2>/dev/null || die "process $1 exited before its $2 worker(s) started"
        ((SECONDS < deadline)) || die "process $1 has not $2 worker(s) after ${READY_TIMEOUT}s (children: ${pids:-none})"
        sleep 0.1
    done
}

# serves_all URL EXPECTED : 20 GETs on new connections all answer EXPECTED (every worker
# listening: the kernel spreads new connections over them).
serves_all() {
    local i
    for ((i = 0; i < 20; i++)); do body_is "$1" "$2" || return 1; done
}

# conns_client NAME ARGS... : runs conns.py, its key=value lines into CR (its output kept in
# results/raw/NAME.txt). Started like the servers (its own process group, in PIDS) and waited
# for with `wait`, so a signal to this script stops it at once and cleanup() ends the client
# too; bounded by a deadline so a stuck run cannot hang the script.
conns_client() {
    local name=$1 raw="$RESULTS/raw/$1.txt" k v rc=0
    shift
    CR=()
    start "$name-client" "$ALL_CPU" timeout --kill-after=10 "$((IDLE_HOLD + 900))" python3 -B "$CONNS_PY" "$@"
    wait "$START_PID" || rc=$?
    cp "$TMP/$name-client.out" "$raw"
    { grep '^\[conns\]' "$raw" || true; } | sed "s/^/[loadtest] $name: /" >&2
    ((rc == 0)) || die "$name: the client failed (exit $rc); output in $raw"
    while IFS='=' read -r k v; do CR[$k]=$v; done < <(grep -E '^[a-z_0-9.]+=' "$raw")
    [[ -n "${CR[failed]:-}" ]] || die "$name: the client printed no result ($raw)"
}

# worker_lines : CR's worker.PID lines as "PID RSS-BEFORE RSS-AFTER FDS-BEFORE FDS-AFTER HWM
# RSS-ONCE-OPEN" (kB), by pid.
worker_lines() {
    local k
    for k in "${!CR[@]}"; do
        [[ "$k" != worker.* ]] || echo "${k#worker.} ${CR[$k]}"
    done | sort -n
}

# idle_rows LABEL : one markdown row per worker: connections held (descriptors added), RSS
# before, once all were open and after the hold, growth, kB per connection, peak.
idle_rows() {
    worker_lines | awk -v l="$1" '{
        g = ($3 - $2) / 1024; n = $5 - $4
        printf "| %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %s | %.1f |\n", l, $1, n, $2 / 1024, $7 / 1024, $3 / 1024, g,
            (n > 0) ? sprintf("%.1f", ($3 - $2) / n) : "-", $6 / 1024
    }'
}

# worst_growth : the largest RSS growth of a worker in CR, in MB.
worst_growth() { worker_lines | awk '{ g = ($3 - $2) / 1024; if (g > w) w = g } END { printf "%.1f", w + 0 }'; }

# idle_nginx DIR PORT WORKERS : the reference nginx of the idle case: as the measured nginx
# proxy, with room for IDLE_CONNS connections and a keep-alive timeout longer than the hold.
idle_nginx() {
    local dir=$1
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
worker_processes $3;
worker_rlimit_nofile $((IDLE_CONNS + 4096));
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $((IDLE_CONNS + 2048)); }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 1000000;
    keepalive_timeout $((IDLE_HOLD + 300))s;
    upstream up {
        server $HOST:$UPORT;
        keepalive 64;
    }
    server {
        listen $HOST:$2 backlog=4096;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    "$NGINX_BIN" -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >/dev/null 2>&1 ||
        "$NGINX_BIN" -t -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" ||
        die "idle: nginx config invalid ($dir/nginx.conf)"
}

# idle_tollgate FILE PORT WORKERS : tollgate's configuration for the idle case: a route to the
# upstream, room for IDLE_CONNS connections in one worker (max_connections), a keep-alive
# timeout longer than the hold, and no admin process (so every child of the master is a worker).
idle_tollgate() {
    cat >"$1" <<EOF
[server]
listen = ["$HOST:$2"]
workers = $3
threads = 1
grace_period = "1s"
keepalive_timeout = "$((IDLE_HOLD + 300))s"
max_connections = $((IDLE_CONNS > 10000 ? IDLE_CONNS : 10000))
lean_http1 = $LEAN

[log]
access = "off"
level = "warn"

[[upstreams]]
name = "up"
targets = ["$HOST:$UPORT"]
keepalive = 64

[[routes]]
name = "all"
path_prefix = "/"
upstream = "up"
EOF
}

# idle_run PROXY WORKERS : one run of the idle case; adds its rows and verdict.
idle_run() {
    local proxy=$1 w=$2 port name="idle-$1-w$2" pid pids ok worst k
    free_port port
    if [[ "$proxy" == nginx ]]; then
        idle_nginx "$TMP/$name" "$port" "$w"
        start "$name" "$ALL_CPU" "$NGINX_BIN" -p "$TMP/$name" -e "$TMP/$name/error.log" -c "$TMP/$name/nginx.conf"
    else
        idle_tollgate "$TMP/$name.toml" "$port" "$w"
        start "$name" "$ALL_CPU" "$TOLLGATE_BIN" run -c "$TMP/$name.toml"
    fi
    pid=$START_PID
    pids=$(worker_pids "$pid" "$w")
    wait_for "$name" "$pid" serves_all "http://$HOST:$port/small" "$SMALL_BODY"
    log "idle: $proxy, $w worker(s) ($pids): $IDLE_CONNS connections, held ${IDLE_HOLD}s"
    conns_client "$name" idle --port "$port" --n "$IDLE_CONNS" --pids "$pids" --src "$(conns_sources)" \
        --concurrency "$CONNS_CONNECTS" --path /small --expect "$SMALL_BODY\n" --hold "$IDLE_HOLD" \
        --sample "$IDLE_SAMPLE"
    stop_group "$pid"
    CONNS_IDLE_ROWS+=("$(idle_rows "$proxy, $w worker(s)")")
    worst=$(worst_growth)
    ok=yes
    ((CR[opened] == IDLE_CONNS && CR[still_open] == CR[opened] && CR[served_again] == CR[sampled] && CR[failed] == 0)) || ok=no
    if [[ "$proxy" == tollgate ]] && awk -v g="$worst" -v m="$IDLE_GOAL_MB" 'BEGIN { exit !(g >= m) }'; then ok=no; fi
    CONNS_IDLE_SUMMARY+=("| $proxy | $w | ${CR[opened]} / $IDLE_CONNS | ${CR[open_seconds]} s | ${CR[still_open]} | ${CR[closed_by_proxy]} | ${CR[served_again]} / ${CR[sampled]} | ${CR[failed]} | $worst | $ok |")
    for k in failure.0 failure.1 failure.2; do
        [[ -z "${CR[$k]:-}" ]] || CONNS_VERDICT+=("- idle, $proxy, $w worker(s): ${CR[$k]}")
    done
    [[ "$ok" == yes ]] || CONNS_VERDICT+=("- **idle, $proxy, $w worker(s): goal not met** (every connection opened, still open after the hold and served again; tollgate: growth under $IDLE_GOAL_MB MB per worker)")
}

# idle_case : every count of IDLE_WORKERS, tollgate then nginx.
idle_case() {
    local w proxy
    CONNS_IDLE_ROWS=() CONNS_IDLE_SUMMARY=()
    for w in $IDLE_WORKERS; do
        for proxy in tollgate nginx; do idle_run "$proxy" "$w"; done
    done
    CONNS_REPORT+=("" "## idle: $IDLE_CONNS keep-alive connections held ${IDLE_HOLD}s (issue 17: RSS growth under $IDLE_GOAL_MB MB per worker)" ""
        "Each connection sent one GET /small through a route to the upstream, then stayed open; after the hold every connection was checked (still open?) and $IDLE_SAMPLE of them sent a second GET. Client: loadtest/lib/conns.py from $CONNS_SOURCES source addresses. Both proxies: keep-alive timeout $((IDLE_HOLD + 300))s, on CPUs $ALL_CPU; tollgate with lean_http1 = $LEAN."
        "" "| proxy | workers | opened | time to open | still open | closed by the proxy | second request served | failures | worst growth of a worker (MB) | goal met |"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|" "${CONNS_IDLE_SUMMARY[@]}"
        "" "Memory of each worker (VmRSS): before the connections, once all were open and after the hold; growth = after - before; connections held = descriptors added; peak = VmHWM."
        "" "| run | worker pid | connections held | RSS before (MB) | RSS once open (MB) | RSS after the hold (MB) | growth (MB) | kB per connection | peak RSS (MB) |"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|" "${CONNS_IDLE_ROWS[@]}")
}

# sse_tollgate FILE PORT : tollgate with SSE_WORKERS workers and an LLM route to the in-process
# mock provider, whose streams send a chunk of 8 characters every SSE_CHUNK_DELAY.
sse_tollgate() {
    cat >"$1" <<EOF
[server]
listen = ["$HOST:$2"]
workers = $SSE_WORKERS
threads = 1
grace_period = "1s"
lean_http1 = $LEAN

[log]
access = "off"
level = "warn"

[[providers]]
name = "mock"
kind = "mock"
mock = { chunk_chars = 8, chunk_delay = "$SSE_CHUNK_DELAY" }

[[models]]
name = "demo"
deployments = [{ provider = "mock", model = "mock-1" }]

[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"
EOF
}

# sse_answers URL : a non-streamed chat request to the mock answers 200 with its echo.
sse_answers() {
    curl -s --max-time 2 -H 'Content-Type: application/json' \
        -d '{"model":"demo","messages":[{"role":"user","content":"ping"}]}' "$1" | grep -q 'You said: ping'
}

# sse_case : SSE_STREAMS streams at once; adds the report and the verdict.
sse_case() {
    local port name=sse pid pids content ok chars k
    free_port port
    sse_tollgate "$TMP/$name.toml" "$port"
    start "$name" "$ALL_CPU" "$TOLLGATE_BIN" run -c "$TMP/$name.toml"
    pid=$START_PID
    pids=$(worker_pids "$pid" "$SSE_WORKERS")
    wait_for "$name" "$pid" sse_answers "http://$HOST:$port/v1/chat/completions"
    # The mock answers "You said: " and the text: SSE_CHUNKS chunks of 8 characters in all.
    chars=$((SSE_CHUNKS * 8 - 10))
    content=$(printf 'How long will my parcel take to reach Lyon by standard shipping? %.0s' {1..40})
    content=${content:0:$((chars > 1 ? chars : 1))}
    log "sse: $SSE_STREAMS streams at once, $SSE_WORKERS worker(s) ($pids), $SSE_CHUNKS chunks every $SSE_CHUNK_DELAY"
    conns_client "$name" sse --port "$port" --n "$SSE_STREAMS" --pids "$pids" --src "$(conns_sources)" \
        --concurrency "$CONNS_CONNECTS" --path /v1/chat/completions --model demo --content "$content"
    stop_group "$pid"
    ok=yes
    ((CR[completed] == SSE_STREAMS && CR[failed] == 0)) || ok=no
    CONNS_REPORT+=("" "## sse: $SSE_STREAMS concurrent streams from the mock provider, $SSE_WORKERS workers (issue 17: no errors)" ""
        "Each stream: one connection, POST /v1/chat/completions with \"stream\": true for the model demo (the in-process mock, chunk_chars 8, chunk_delay $SSE_CHUNK_DELAY: $SSE_CHUNKS text chunks); it must answer 200 text/event-stream, carry no error event and end with data: [DONE]. Time to first byte: from the request sent to the answer's first byte. Client: loadtest/lib/conns.py, tollgate on CPUs $ALL_CPU with lean_http1 = $LEAN."
        "" "| streams | completed | failed | most at once | TTFB p50 | TTFB p99 | stream time p50 | slowest | wall time | goal met |"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        "| $SSE_STREAMS | ${CR[completed]} | ${CR[failed]} | ${CR[peak_concurrent]} | ${CR[ttfb_p50_ms]} ms | ${CR[ttfb_p99_ms]} ms | ${CR[duration_p50_s]} s | ${CR[duration_max_s]} s | ${CR[wall_seconds]} s | $ok |"
        "" "| worker pid | RSS before (MB) | peak RSS (MB, VmHWM) | RSS after the streams (MB) |" "|---:|---:|---:|---:|"
        "$(worker_lines | awk '{ printf "| %s | %.1f | %.1f | %.1f |\n", $1, $2 / 1024, $6 / 1024, $3 / 1024 }')")
    for k in failure.0 failure.1 failure.2; do
        [[ -z "${CR[$k]:-}" ]] || CONNS_VERDICT+=("- sse: ${CR[$k]}")
    done
    [[ "$ok" == yes ]] || CONNS_VERDICT+=("- **sse: goal not met**: ${CR[completed]} of $SSE_STREAMS streams completed")
}

# conns_report : both cases' tables and the verdicts, as markdown.
conns_report() {
    printf '%s\n' "${CONNS_REPORT[@]}"
    if ((${#CONNS_VERDICT[@]})); then
        echo
        printf '%s\n' "${CONNS_VERDICT[@]}"
    fi
}
