# shellcheck shell=bash
# The `floor` case of loadtest/run.sh (issue 17): nginx, HAProxy, a minimal Pingora proxy (the
# floor, examples/pingora_floor.rs), the same with tollgate's lean HTTP/1 path in front (the
# lean floor, `pingora_floor --lean`) and tollgate, each on the same cores, on GET /small,
# POST /json, and a chat request passed through (OpenAI to OpenAI) and translated (OpenAI to
# Anthropic; the other proxies pass it through), at each count of CONNECTIONS, in ROUNDS rounds
# whose proxy order alternates. Each run gives req/s and the proxy's CPU time per request (user
# and kernel, from /proc/<pid>/stat of all its processes); the report is the median per proxy
# and case. Sourced by run.sh, which defines log, die, start, wait_for, measure and the rest.

FLOOR_CASES="${FLOOR_CASES:-GET POST llm-openai llm-anthropic}"
FLOOR_PROXIES="nginx haproxy floor lean tollgate"
CLK_TCK="$(getconf CLK_TCK)"
declare -A FLOOR_URL FLOOR_PGID
declare -A FLOOR=() # "CASE|CONN|PROXY" -> "rps user kernel;" per round
FLOOR_RUNS=()       # one markdown row per measured run

# group_ticks PGID : "USER KERNEL" clock ticks used so far by the processes of a process group
# (a proxy's master and workers, each with all its threads). A process that exits during a run
# takes its ticks with it; none of the proxies here replaces a process while it runs.
group_ticks() {
    local p u=0 k=0 a b
    for p in $(pgrep -g "$1"); do
        read -r a b < <(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12, $13 }') || continue
        u=$((u + ${a:-0}))
        k=$((k + ${b:-0}))
    done
    echo "$u $k"
}

# per_request TICKS-BEFORE TICKS-AFTER REQUESTS : "USER KERNEL" microseconds per request.
per_request() {
    awk -v a="$1" -v b="$2" -v n="${3:-0}" -v hz="$CLK_TCK" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        if (n > 0) printf "%.2f %.2f", (y[1] - x[1]) * 1e6 / hz / n, (y[2] - x[2]) * 1e6 / hz / n
        else print "0 0"
    }'
}

# start_haproxy : HAProxy on PROXY_CPU, nbthread PROXY_CORES, keep-alive to the upstream shared
# by all client connections (http-reuse always), no log (no `log` line anywhere).
start_haproxy() {
    local dir="$TMP/haproxy"
    mkdir -p "$dir"
    free_port HPORT
    cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread $PROXY_CORES
    maxconn 4096
    pidfile $dir/haproxy.pid
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 65s
    timeout server 65s
    timeout http-keep-alive 65s
frontend proxy
    bind $HOST:$HPORT
    default_backend up
backend up
    http-reuse always
    server up $HOST:$UPORT
EOF
    "$HAPROXY_BIN" -c -q -f "$dir/haproxy.cfg" || die "HAProxy config invalid ($dir/haproxy.cfg)"
    start haproxy "$PROXY_CPU" "$HAPROXY_BIN" -db -f "$dir/haproxy.cfg"
    FLOOR_PGID[haproxy]=$START_PID
    FLOOR_URL[haproxy]="http://$HOST:$HPORT"
}

# start_floor : the minimal Pingora proxy on PROXY_CPU, PROXY_CORES threads, to the upstream;
# and the lean floor, the same binary with --lean.
start_floor() {
    local port
    free_port FPORT
    start floor "$PROXY_CPU" "$FLOOR_BIN" "$HOST:$FPORT" "$HOST:$UPORT" "$PROXY_CORES" "$KEEPALIVE"
    FLOOR_PGID[floor]=$START_PID
    FLOOR_URL[floor]="http://$HOST:$FPORT"
    free_port port
    start lean "$PROXY_CPU" "$FLOOR_BIN" "$HOST:$port" "$HOST:$UPORT" "$PROXY_CORES" "$KEEPALIVE" --lean
    FLOOR_PGID[lean]=$START_PID
    FLOOR_URL[lean]="http://$HOST:$port"
}

# floor_start : starts HAProxy and the floor (nginx and tollgate run already) and checks that
# each of them answers every request of the comparison.
floor_start() {
    local proxy
    start_haproxy
    start_floor
    FLOOR_PGID[nginx]=$NGINX_PID
    FLOOR_URL[nginx]="http://$HOST:$NPORT"
    FLOOR_PGID[tollgate]=$TOLLGATE_PID
    FLOOR_URL[tollgate]="http://$HOST:$TPORT"
    for proxy in haproxy floor lean; do
        wait_for "$proxy" "${FLOOR_PGID[$proxy]}" body_is "${FLOOR_URL[$proxy]}/small" "$SMALL_BODY"
        check_post "$proxy" "${FLOOR_URL[$proxy]}/json"
        check_llm "$proxy" "${FLOOR_URL[$proxy]}/v1/chat/completions" "$CHAT_GPT" "$OPENAI_ANSWER"
        log "$proxy on ${FLOOR_URL[$proxy]} (pid ${FLOOR_PGID[$proxy]}, cpu $PROXY_CPU)"
    done
}

# floor_request CASE : the path and wrk script ("-" for none) of a case.
floor_request() {
    case $1 in
    GET) echo "/small -" ;;
    POST) echo "/json $POST_LUA" ;;
    llm-openai) echo "/v1/chat/completions $CHAT_GPT_LUA" ;;
    llm-anthropic) echo "/v1/chat/completions $CHAT_CLAUDE_LUA" ;;
    esac
}

# floor_compare : every case at every count, ROUNDS rounds each; odd rounds go nginx to
# tollgate, even rounds the other way, so a drift of the host weighs on all alike.
floor_compare() {
    local conn case round proxy order path lua args
    for conn in $CONNECTIONS; do
        for case in $FLOOR_CASES; do
            read -r path lua < <(floor_request "$case")
            args=()
            [[ "$lua" == - ]] || args=(-s "$lua")
            for ((round = 1; round <= ROUNDS; round++)); do
                order=$FLOOR_PROXIES
                ((round % 2)) || order=$(printf '%s\n' $FLOOR_PROXIES | tac | xargs)
                for proxy in $order; do
                    CONN=$conn CPU_PGID=${FLOOR_PGID[$proxy]} MEASURE_ROW=0 \
                        measure "floor $case c$conn r$round" "$proxy" "${FLOOR_URL[$proxy]}$path" "${args[@]}"
                    FLOOR["$case|$conn|$proxy"]+="$LAST_RPS $LAST_CPU;"
                    FLOOR_RUNS+=("| $case | $conn | $round | $proxy | $(printf '%.0f' "$LAST_RPS") | ${LAST_CPU% *} | ${LAST_CPU#* } | ${LAST_BUSY// / | } |")
                done
            done
        done
    done
}

# floor_medians CASE CONN PROXY : "rps user kernel total", each the median over the rounds.
floor_medians() {
    awk -v s="${FLOOR["$1|$2|$3"]}" 'function med(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        BEGIN {
            n = split(s, runs, ";") - 1
            for (i = 1; i <= n; i++) { split(runs[i], f, " "); r[i] = f[1]; u[i] = f[2]; k[i] = f[3]; c[i] = f[2] + f[3] }
            printf "%.0f %.2f %.2f %.2f\n", med(r, n), med(u, n), med(k, n), med(c, n)
        }'
}

# floor_paired CASE CONN NUM DEN : "median min max" over the rounds of NUM's CPU per request
# divided by DEN's in the same round. The proxies of a round run back to back, so a drift of
# the host between rounds, which the medians of the table above carry into their ratios,
# weighs little here; min and max say how far the rounds spread.
floor_paired() {
    awk -v a="${FLOOR["$1|$2|$3"]}" -v b="${FLOOR["$1|$2|$4"]}" 'function med(x, n,   i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j - 1] > x[j]; j--) { t = x[j]; x[j] = x[j - 1]; x[j - 1] = t }
            return (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
        }
        BEGIN {
            n = split(a, ra, ";") - 1; split(b, rb, ";"); m = 0
            for (i = 1; i <= n; i++) {
                split(ra[i], f, " "); split(rb[i], g, " ")
                if (g[2] + g[3] > 0) q[++m] = (f[2] + f[3]) / (g[2] + g[3])
            }
            if (m == 0) { print "0 0 0"; exit }
            printf "%.2f %.2f %.2f\n", med(q, m), q[1], q[m]
        }'
}

# floor_goal CASE : issue 17's goal for tollgate against nginx on CASE.
floor_goal() {
    case $1 in GET) echo 0.85 ;; POST) echo 0.8 ;; llm-openai) echo 0.7 ;; llm-anthropic) echo 0.6 ;; esac
}

# floor_report : the table of medians, the goal lines and every run, as markdown.
floor_report() {
    local conn case proxy rps u k c nrps nc frps fc
    echo
    echo "## floor: nginx, HAProxy, the Pingora floor, the lean floor and tollgate (median over ROUNDS=$ROUNDS)"
    echo
    echo "wrk -t$THREADS -d$DURATION (warm-up $WARMUP) at -c $CONNECTIONS; every proxy on CPU $PROXY_CPU" \
        "($PROXY_CORES core(s): nginx $PROXY_CORES worker(s), HAProxy $("$HAPROXY_BIN" -v | awk 'NR == 1 { print $3 }')" \
        "nbthread $PROXY_CORES, the floor and the lean floor $PROXY_CORES thread(s), tollgate workers=$PROXY_CORES threads=1 lean_http1=$LEAN)," \
        "wrk and the upstream on CPU $LOAD_CPU. CPU per request: user and kernel time of all the proxy's" \
        "processes (/proc/PID/stat, ticks of 1/$CLK_TCK s) over the requests wrk completed." \
        "vs nginx: nginx's CPU per request / the proxy's (1.00 = as cheap as nginx), and req/s / nginx's req/s."
    echo
    echo "| case | -c | proxy | req/s | user µs/req | kernel µs/req | CPU µs/req | CPU vs nginx | req/s vs nginx |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
    for conn in $CONNECTIONS; do
        for case in $FLOOR_CASES; do
            read -r nrps _ _ nc < <(floor_medians "$case" "$conn" nginx)
            for proxy in $FLOOR_PROXIES; do
                read -r rps u k c < <(floor_medians "$case" "$conn" "$proxy")
                awk -v a="$case" -v n="$conn" -v p="$proxy" -v r="$rps" -v u="$u" -v k="$k" -v c="$c" -v nr="$nrps" -v nc="$nc" \
                    'BEGIN { printf "| %s | %s | %s | %d | %.1f | %.1f | %.1f | %.2f | %.2f |\n", a, n, p, r, u, k, c, (c > 0) ? nc / c : 0, (nr > 0) ? r / nr : 0 }'
            done
        done
    done
    echo
    for conn in $CONNECTIONS; do
        for case in $FLOOR_CASES; do
            read -r nrps _ _ nc < <(floor_medians "$case" "$conn" nginx)
            read -r frps _ _ fc < <(floor_medians "$case" "$conn" floor)
            read -r rps _ _ c < <(floor_medians "$case" "$conn" tollgate)
            awk -v a="$case" -v n="$conn" -v g="$(floor_goal "$case")" -v r="$rps" -v c="$c" -v nr="$nrps" -v nc="$nc" -v fc="$fc" \
                -v vn="$(floor_paired "$case" "$conn" nginx tollgate)" -v vf="$(floor_paired "$case" "$conn" tollgate floor)" \
                'BEGIN { split(vn, p, " "); split(vf, q, " ")
                    printf "- %s -c%s: tollgate vs nginx %.2f CPU per request, %.2f req/s (goal %s); tollgate / floor CPU per request %.2f (goal at most 1.10); round by round: vs nginx %s (%s to %s), / floor %s (%s to %s)\n",
                    a, n, (c > 0) ? nc / c : 0, (nr > 0) ? r / nr : 0, g, (fc > 0) ? c / fc : 0, p[1], p[2], p[3], q[1], q[2], q[3] }'
            read -r rps _ _ c < <(floor_medians "$case" "$conn" lean)
            awk -v a="$case" -v n="$conn" -v c="$c" -v nc="$nc" -v fc="$fc" -v vn="$(floor_paired "$case" "$conn" nginx lean)" \
                'BEGIN { split(vn, p, " ")
                    printf "  - the lean floor: vs nginx %.2f CPU per request, / the floor %.2f; round by round vs nginx %s (%s to %s)\n",
                    (c > 0) ? nc / c : 0, (fc > 0) ? c / fc : 0, p[1], p[2], p[3] }'
        done
    done
    echo
    echo "### floor: every run"
    echo
    echo "| case | -c | round | proxy | req/s | user µs/req | kernel µs/req | proxy CPU % | load CPU % | other % |"
    echo "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${FLOOR_RUNS[@]}"
}
