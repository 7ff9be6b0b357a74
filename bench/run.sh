#!/usr/bin/env bash
# bench/run.sh [build-dir] - gateway benchmarks: direct (client -> engine) vs fixgw vs HAProxy 2.6, same
# machine, same echo engine, back to back in one run. `make bench` calls it with build-release.
#
# Scenarios (each for direct, fixgw and haproxy unless noted; every one repeated BENCH_REPEAT times and
# interleaved so that drift hits all three alike; the tables show medians):
#   lat1         1 session, closed-loop ping-pong of 256-byte FIX messages: round-trip p50/p99/p99.9
#   lat100       BENCH_LAT_SESSIONS sessions, paced at BENCH_RATE messages/s in total
#   tput         messages/s through one worker: BENCH_TP_SESSIONS sessions x BENCH_TP_WINDOW in flight
#   logons       connect + Logon + first echoed byte + close, BENCH_LOGON_CONCURRENCY at a time
#   tls13, tls12 TLS handshakes/s, RSA-2048, no resumption (fixgw and haproxy only)
#   knobs        fixgw only: tcpNoDelay false, reusePort false, busyPollMicros 50 against the defaults on
#                lat1 and lat100; tcpNoDelay false on tput; logLevel warn on logons
#   syscalls     fixgw and haproxy only, once: syscalls per round trip (lat1) and per Logon, from perf
#   free         lat1 with no CPU placement at all (direct, fixgw, fixgw with pinWorkers, haproxy):
#                pinWorkers can only be judged where the scheduler is otherwise free
#   scale        tput and logons with 1 and with 2 workers (fixgw `workers: N`, HAProxy `nbthread N`)
#   idle         memory per idle proxied session at BENCH_IDLE_SESSIONS sessions (once, fresh processes)
#   otel         fixgw only: lat1, lat100 and logons with OTLP export off, to a healthy real OpenTelemetry
#                Collector (otelcol from tools/build.sh, on the other CPUs) and to a blackholed one (a socket
#                that accepts and never answers); a fresh fixgw per mode, first given a 1 s burst of Logons
#                (unmeasured) so that its exporter has spans queued, sent or dropped while latency is
#                measured; the modes' order rotated each repeat; the proxy's RSS after every run. Each mode
#                waits for the previous one's TIME_WAIT sockets to go (up to 60 s): a Logon run uses most
#                ephemeral ports towards its destination, and the next 100-session run would find none.
#
# CPU placement (BENCH_PLACEMENT, one mode or a comma list such as "one,free": the scenarios lat1, lat100,
# tput, logons, tls13, tls12 and scale then run once per mode, each result tagged with its placement, and
# the report has one table per mode): "one" (default) runs every process (load generator, echo engine,
# proxy) on the last CPU, so a round trip costs only the CPU work of each hop: on a small or virtual
# machine, a wake-up on another CPU costs tens of microseconds and would drown the proxies' differences,
# and other load on the machine moves around less. "split" puts the proxy alone on the last CPU and the
# rest on the others; "free" leaves placement to the scheduler. Every process runs under
# BENCH_SCHED ("nice": nice -10, the default; "fifo": SCHED_FIFO, which makes every wake-up cross CPUs
# and is not recommended; "none").
#
# Proxy CPU time (utime + stime from /proc/PID/stat over each run) is recorded with every result, so
# the tables show CPU microseconds per message, Logon and handshake, which other load on the machine
# distorts far less than rates.
#
# Environment (defaults in brackets): BENCH_SECONDS [4] measured seconds per run, BENCH_WARMUP_MS [500],
# BENCH_REPEAT [5], BENCH_RATE [10000], BENCH_LAT_SESSIONS [100], BENCH_TP_SESSIONS [10],
# BENCH_TP_WINDOW [16], BENCH_LOGON_CONCURRENCY [16], BENCH_TLS_CONCURRENCY [8],
# BENCH_IDLE_SESSIONS [10000, capped by the fd limit], BENCH_PORT_BASE [19400], BENCH_PLACEMENT [one],
# BENCH_SCHED [nice], BENCH_FIXGW_LOG_LEVEL [info], BENCH_ONLY [all, or a comma list of the scenario
# names above], BENCH_OUT_DIR [docs/benchmarks-gateway-raw], BENCH_OTELCOL [the otelcol of tools/build.sh].
#
# Everything listens on 127.0.0.1. Raw JSON lines go to $BENCH_OUT_DIR/results-<stamp>.jsonl, the markdown
# tables to stdout and to results-<stamp>.md next to them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build-release}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD

SECS=${BENCH_SECONDS:-4}
WARMUP_MS=${BENCH_WARMUP_MS:-500}
REPEAT=${BENCH_REPEAT:-5} # medians of three moved by more than the goals' margins (docs/benchmarks-gateway.md)
RATE=${BENCH_RATE:-10000}
LAT_SESSIONS=${BENCH_LAT_SESSIONS:-100}
TP_SESSIONS=${BENCH_TP_SESSIONS:-10}
TP_WINDOW=${BENCH_TP_WINDOW:-16}
LOGON_CONC=${BENCH_LOGON_CONCURRENCY:-16}
TLS_CONC=${BENCH_TLS_CONCURRENCY:-8}
IDLE_WANT=${BENCH_IDLE_SESSIONS:-10000}
PORT_BASE=${BENCH_PORT_BASE:-19400}
SCHED=${BENCH_SCHED:-nice}
PLACEMENTS=${BENCH_PLACEMENT:-one}
PLACEMENT=${PLACEMENTS%%,*} # the first mode: where the once-only scenarios (knobs, syscalls, idle) run
FIXGW_LOG_LEVEL=${BENCH_FIXGW_LOG_LEVEL:-info}
ONLY=${BENCH_ONLY:-all}
OUT_DIR=${BENCH_OUT_DIR:-$ROOT/docs/benchmarks-gateway-raw}

ECHO_PORT=$PORT_BASE
# Each target reaches the echo engine on its own port: a run's closed connections leave ~60 s of TIME_WAIT
# behind for their (source, destination) pairs, and a Logon run that followed another one on the same
# destination would pay for the other's ephemeral-port search (loopback has ~14,000 even ports for one
# destination; at 10,000 Logons/s a run uses most of them).
ECHO_FIXGW_PORT=$((PORT_BASE + 5))
ECHO_HAPROXY_PORT=$((PORT_BASE + 6))
FIXGW_PORT=$((PORT_BASE + 1))
FIXGW_TLS_PORT=$((PORT_BASE + 2))
HAPROXY_PORT=$((PORT_BASE + 3))
HAPROXY_TLS_PORT=$((PORT_BASE + 4))
OTEL_HTTP_PORT=$((PORT_BASE + 7))
OTEL_GRPC_PORT=$((PORT_BASE + 8))
OTEL_HOLE_PORT=$((PORT_BASE + 9))

FIXGW=$BUILD/fixgw
FIXECHO=$BUILD/bench/gateway/fixecho
FIXLOAD=$BUILD/bench/gateway/fixload
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}

log() { printf '[bench] %s\n' "$*" >&2; }
fail() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

want() { [[ $ONLY == all || ",$ONLY," == *",$1,"* ]]; }

# ---- prerequisites ----

[[ -x $HAPROXY ]] || fail "HAProxy not found at $HAPROXY (apt-get install haproxy)"
command -v openssl >/dev/null || fail "openssl not found"
command -v python3 >/dev/null || fail "python3 not found (used for the result tables)"
if [[ ! -x $FIXGW || ! -x $FIXECHO || ! -x $FIXLOAD ]]; then
	log "building fixgw, fixecho and fixload in $BUILD"
	cmake --build "$BUILD" --target fixgw fixecho fixload >&2
fi

# File descriptors: the proxy holds two per idle session. Raise the soft limit as far as allowed.
ulimit -n 1048576 2>/dev/null || ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
IDLE_SESSIONS=$IDLE_WANT
if ((IDLE_SESSIONS > (NOFILE - 400) / 2)); then
	IDLE_SESSIONS=$(((NOFILE - 400) / 2))
	log "fd limit $NOFILE (hard limit $(ulimit -Hn)): idle test capped at $IDLE_SESSIONS sessions"
fi
HAPROXY_MAXCONN=$((IDLE_SESSIONS + 50))

case $SCHED in
fifo) SCHED_CMD=(chrt -f 20) ;;
nice) SCHED_CMD=(nice -n -10) ;;
none) SCHED_CMD=() ;;
*) fail "BENCH_SCHED must be nice, fifo or none" ;;
esac
if ((${#SCHED_CMD[@]})) && ! "${SCHED_CMD[@]}" true 2>/dev/null; then
	log "cannot run under '${SCHED_CMD[*]}'; running with the default scheduler"
	SCHED_CMD=()
fi

LAST_CPU=$(($(nproc) - 1))
PEER_CPUS=0-$((LAST_CPU > 0 ? LAST_CPU - 1 : 0))
# set_placement one|split|free: the command prefixes for the proxies (PROXY_CMD) and for the load
# generator and echo engine (PEER_CMD). Processes already running keep their placement unless moved.
set_placement() {
	case $1 in
	one) PROXY_CMD=(taskset -c "$LAST_CPU") PEER_CMD=(taskset -c "$LAST_CPU") ;;
	split) PROXY_CMD=(taskset -c "$LAST_CPU") PEER_CMD=(taskset -c "$PEER_CPUS") ;;
	free) PROXY_CMD=() PEER_CMD=() ;;
	*) fail "BENCH_PLACEMENT must be one, split or free" ;;
	esac
	PROXY_CMD+=("${SCHED_CMD[@]}")
	PEER_CMD+=("${SCHED_CMD[@]}")
	CURRENT_PLACEMENT=$1
}
for p in ${PLACEMENTS//,/ }; do set_placement "$p"; done
set_placement "$PLACEMENT"
# move_echo: put the running echo engine where PEER_CMD would start it.
move_echo() {
	local cpus="0-$LAST_CPU"
	case $CURRENT_PLACEMENT in one) cpus=$LAST_CPU ;; split) cpus=$PEER_CPUS ;; esac
	local pid
	for pid in $ECHO_PID; do taskset -a -p -c "$cpus" "$pid" >/dev/null; done
}

for p in "$ECHO_PORT" "$ECHO_FIXGW_PORT" "$ECHO_HAPROXY_PORT" "$FIXGW_PORT" "$FIXGW_TLS_PORT" "$HAPROXY_PORT" "$HAPROXY_TLS_PORT" \
	"$OTEL_HTTP_PORT" "$OTEL_GRPC_PORT" "$OTEL_HOLE_PORT"; do
	if [[ -n $(ss -Hltn "sport = :$p") ]]; then
		fail "port $p is in use; set BENCH_PORT_BASE"
	fi
done

TMP=$(mktemp -d /tmp/fixgw-bench.XXXXXX)
ECHO_PID= FIXGW_PID= HAPROXY_PID= LOAD_PID= HAPROXY_THREADS=1 OTELCOL_PID= HOLE_PID= OTEL_MODE=

stop_pid() { # stop_pid PID: TERM, then KILL after 5 s
	local pid=$1 i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_pid "$LOAD_PID"
	stop_pid "$HAPROXY_PID"
	stop_pid "$FIXGW_PID"
	stop_pid "$OTELCOL_PID"
	stop_pid "$HOLE_PID"
	local pid
	for pid in $ECHO_PID; do stop_pid "$pid"; done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
trap 'exit 141' PIPE # e.g. `bench/run.sh | head`: still stop everything started

wait_port() { # wait_port PORT PID
	local i
	for ((i = 0; i < 200; i++)); do
		[[ -n $(ss -Hltn "sport = :$1") ]] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# ---- certificates and configs ----

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/server.key" -out "$TMP/server.crt" -days 365 \
	-subj "/CN=localhost" -addext "subjectAltName=DNS:localhost" 2>/dev/null
cat "$TMP/server.crt" "$TMP/server.key" >"$TMP/haproxy.pem"

mkdir -p "$TMP/routes"
cat >"$TMP/routes/broker-a.yaml" <<EOF
apiVersion: fixgw.io/v1alpha1
kind: FIXSession
metadata:
  name: broker-a
  namespace: bench
spec:
  matchFields:
    SenderCompID49:
      value: "BROKER_A"
  target:
    service:
      name: echo-svc
      port:
        number: 9880
EOF

write_fixgw_config() { # write_fixgw_config VARIANT: "" or one top-level YAML line ("tuning: {...}", "logLevel: x", "workers: N")
	local level=$FIXGW_LOG_LEVEL workers=1
	if [[ $1 == "logLevel: "* ]]; then level=${1#logLevel: }; fi
	if [[ $1 == "workers: "* ]]; then workers=${1#workers: }; fi
	cat >"$TMP/fixgw.yaml" <<EOF
workers: $workers
logLevel: $level
maxConnections: 20000
shutdownGracePeriod: 0
listeners:
  - {name: fix, address: 127.0.0.1:$FIXGW_PORT}
  - name: fix-tls
    address: 127.0.0.1:$FIXGW_TLS_PORT
    tls: {enabled: true, certFile: server.crt, keyFile: server.key}
routes: [routes]
endpoints:
  bench/echo-svc:9880:
    - {address: 127.0.0.1:$ECHO_FIXGW_PORT}
EOF
	if [[ -n $1 && $1 != "logLevel: "* && $1 != "workers: "* ]]; then
		echo "$1" >>"$TMP/fixgw.yaml"
	fi
}

write_haproxy_config() { # write_haproxy_config THREADS
	cat >"$TMP/haproxy.cfg" <<EOF
global
    nbthread $1
    maxconn $HAPROXY_MAXCONN

defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h

frontend fix
    bind 127.0.0.1:$HAPROXY_PORT
    tcp-request inspect-delay 10s
    tcp-request content reject unless { req.payload(0,0),fix_is_valid }
    use_backend engine_broker_a if { req.payload(0,0),fix_tag_value(49) -m str BROKER_A }

frontend fix_tls
    bind 127.0.0.1:$HAPROXY_TLS_PORT ssl crt $TMP/haproxy.pem
    tcp-request inspect-delay 10s
    tcp-request content reject unless { req.payload(0,0),fix_is_valid }
    use_backend engine_broker_a if { req.payload(0,0),fix_tag_value(49) -m str BROKER_A }

backend engine_broker_a
    server echo 127.0.0.1:$ECHO_HAPROXY_PORT
EOF
	"$HAPROXY" -c -q -f "$TMP/haproxy.cfg" || fail "haproxy -c rejected the generated config"
}
write_haproxy_config 1

# ---- processes ----

start_echo() { # one fixecho per target (see ECHO_FIXGW_PORT); ECHO_PID lists them
	local port pid
	ECHO_PID=
	for port in "$ECHO_PORT" "$ECHO_FIXGW_PORT" "$ECHO_HAPROXY_PORT"; do
		"${PEER_CMD[@]}" "$FIXECHO" --listen "127.0.0.1:$port" 2>>"$TMP/fixecho.log" &
		pid=$!
		ECHO_PID+="$pid "
		wait_port "$port" "$pid" || fail "fixecho did not start (see $TMP/fixecho.log)"
	done
}

FIXGW_VARIANT=
start_fixgw() { # start_fixgw [TUNING]
	stop_fixgw
	write_fixgw_config "${1:-}"
	FIXGW_VARIANT=${1:-}
	: >"$TMP/fixgw.log"
	"${PROXY_CMD[@]}" "$FIXGW" gateway --config "$TMP/fixgw.yaml" >>"$TMP/fixgw.log" 2>&1 &
	FIXGW_PID=$!
	if ! wait_port "$FIXGW_PORT" "$FIXGW_PID" || ! wait_port "$FIXGW_TLS_PORT" "$FIXGW_PID"; then
		tail -5 "$TMP/fixgw.log" >&2
		fail "fixgw did not start"
	fi
}
stop_fixgw() {
	stop_pid "$FIXGW_PID"
	FIXGW_PID=
}

start_haproxy() {
	stop_haproxy
	"${PROXY_CMD[@]}" "$HAPROXY" -db -f "$TMP/haproxy.cfg" >>"$TMP/haproxy.log" 2>&1 &
	HAPROXY_PID=$!
	if ! wait_port "$HAPROXY_PORT" "$HAPROXY_PID" || ! wait_port "$HAPROXY_TLS_PORT" "$HAPROXY_PID"; then
		tail -5 "$TMP/haproxy.log" >&2
		fail "haproxy did not start"
	fi
}
stop_haproxy() {
	stop_pid "$HAPROXY_PID"
	HAPROXY_PID=
}

# utime + stime of a process (all threads), in clock ticks.
cpu_ticks() {
	[[ -n $1 ]] || { echo 0; return; }
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
tcp_mem_pages() { awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }
slab_kb() { awk '/^Slab:/ { print $2 }' /proc/meminfo; }

CLK_TCK=$(getconf CLK_TCK)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT_DIR"
RESULTS=$OUT_DIR/results-$STAMP.jsonl
: >"$RESULTS"

port_of() { # port_of LABEL TLS(0/1)
	case $1 in
	direct) echo "$ECHO_PORT" ;;
	fixgw*) (($2)) && echo "$FIXGW_TLS_PORT" || echo "$FIXGW_PORT" ;;
	haproxy) (($2)) && echo "$HAPROXY_TLS_PORT" || echo "$HAPROXY_PORT" ;;
	esac
}
pid_of() {
	case $1 in
	direct) echo "" ;;
	fixgw*) echo "$FIXGW_PID" ;;
	haproxy) echo "$HAPROXY_PID" ;;
	esac
}

# run_load SCENARIO LABEL REPEAT TLS fixload-args...: one fixload run; its JSON line, with the proxy's CPU
# use and the scenario appended, goes to the results file.
run_load() {
	local scenario=$1 label=$2 rep=$3 tls=$4
	shift 4
	local port pid c0 c1 t0 t1 line
	port=$(port_of "$label" "$tls")
	pid=$(pid_of "$label")
	c0=$(cpu_ticks "$pid")
	t0=$(date +%s%N)
	line=$("${PEER_CMD[@]}" "$FIXLOAD" "$@" --target "127.0.0.1:$port" --label "$label" \
		--seconds "$SECS" --warmup-ms "$WARMUP_MS") || true
	t1=$(date +%s%N)
	c1=$(cpu_ticks "$pid")
	if [[ $line != "{"*"}" ]]; then
		log "$scenario/$label: fixload produced no result"
		return 0
	fi
	local variant=
	[[ $label == fixgw ]] && variant=$FIXGW_VARIANT
	[[ $scenario == otel-* ]] && variant=$OTEL_MODE
	[[ $label == haproxy && $scenario == scale-* ]] && variant="nbthread $HAPROXY_THREADS"
	line="${line%\}},\"scenario\":\"$scenario\",\"repeat\":$rep,\"variant\":\"$variant\",\"placement\":\"$CURRENT_PLACEMENT\""
	line+=",\"proxy_cpu_s\":$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }')"
	line+=",\"wall_s\":$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
	[[ -n $pid ]] && line+=",\"proxy_rss_kb\":$(rss_kb "$pid")"
	line+="}"
	echo "$line" >>"$RESULTS"
	log "$scenario/$label#$rep: $(printf '%s' "$line" | cut -c1-220)"
}

# ---- OTLP export targets (the otel scenario) ----

# start_otel: the real collector on the peers' CPUs (OTLP/HTTP and gRPC in, batch, the debug exporter's one
# line per batch) and the blackhole; returns 1 (no otel scenario) when there is no collector binary.
start_otel() {
	local otelcol=${BENCH_OTELCOL:-}
	if [[ -z $otelcol ]]; then
		otelcol=$("$ROOT/tools/build.sh" 2>"$TMP/tools.log" | tail -n 1)/otelcol || true
	fi
	if [[ ! -x $otelcol ]]; then
		log "no OpenTelemetry Collector (set BENCH_OTELCOL, or see make tools): no otel scenario"
		return 1
	fi
	cat >"$TMP/otelcol.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:$OTEL_GRPC_PORT"}
      http: {endpoint: "127.0.0.1:$OTEL_HTTP_PORT"}
processors:
  batch: {}
exporters:
  debug: {verbosity: basic}
service:
  telemetry:
    metrics: {level: none}
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [debug]}
    metrics: {receivers: [otlp], processors: [batch], exporters: [debug]}
    logs: {receivers: [otlp], processors: [batch], exporters: [debug]}
EOF
	taskset -c "$PEER_CPUS" "$otelcol" --config="file:$TMP/otelcol.yaml" >"$TMP/otelcol.log" 2>&1 &
	OTELCOL_PID=$!
	wait_port "$OTEL_HTTP_PORT" "$OTELCOL_PID" || fail "otelcol did not start (see $TMP/otelcol.log)"
	# The blackhole: every connection is accepted and kept, nothing is ever read or answered.
	taskset -c "$PEER_CPUS" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1024)
held = []
while True:
    held.append(s.accept()[0])
' "$OTEL_HOLE_PORT" &
	HOLE_PID=$!
	wait_port "$OTEL_HOLE_PORT" "$HOLE_PID" || fail "the blackhole did not start"
}

# wait_time_wait: until fewer than 1,000 sockets towards fixgw or its echo engine are in TIME_WAIT (60 s at
# most, the kernel's TIME_WAIT length).
wait_time_wait() {
	local i
	for ((i = 0; i < 120; i++)); do
		(($(ss -Htan state time-wait "( dport = :$FIXGW_PORT or dport = :$ECHO_FIXGW_PORT )" | wc -l) < 1000)) && return 0
		sleep 0.5
	done
}

# otel_config MODE: the fixgw config line of an export mode (off: none). Metrics every second, so that
# metric export runs during every measurement too; everything else at its default.
otel_config() {
	case $1 in
	off) echo "" ;;
	healthy) echo "telemetry: {endpoint: \"http://127.0.0.1:$OTEL_HTTP_PORT\", metrics: {interval: 1s}}" ;;
	blackholed) echo "telemetry: {endpoint: \"http://127.0.0.1:$OTEL_HOLE_PORT\", metrics: {interval: 1s}}" ;;
	esac
}

# ---- the runs ----

HAVE_OTEL=0
if want otel && start_otel; then HAVE_OTEL=1; fi
log "build $BUILD, $SECS s per run (+${WARMUP_MS} ms warm-up), $REPEAT repeats, placement $PLACEMENTS, scheduler: ${SCHED_CMD[*]:-default}"
start_echo
start_fixgw ""
start_haproxy

TARGETS=(direct fixgw haproxy)
# main_scenarios REP: one repeat of the scenarios that run in every placement mode.
main_scenarios() {
	local rep=$1 t n
	if want lat1; then
		for t in "${TARGETS[@]}"; do run_load lat1 "$t" "$rep" 0 latency --sessions 1; done
	fi
	if want lat100; then
		for t in "${TARGETS[@]}"; do
			run_load lat100 "$t" "$rep" 0 latency --sessions "$LAT_SESSIONS" --rate "$RATE"
		done
	fi
	if want tput; then
		for t in "${TARGETS[@]}"; do
			run_load tput "$t" "$rep" 0 throughput --sessions "$TP_SESSIONS" --window "$TP_WINDOW"
		done
	fi
	if want logons; then
		for t in "${TARGETS[@]}"; do run_load logons "$t" "$rep" 0 logons --concurrency "$LOGON_CONC"; done
	fi
	if want tls13; then
		for t in fixgw haproxy; do
			run_load tls13 "$t" "$rep" 1 tls-handshakes --tls 1.3 --concurrency "$TLS_CONC"
		done
	fi
	if want tls12; then
		for t in fixgw haproxy; do
			run_load tls12 "$t" "$rep" 1 tls-handshakes --tls 1.2 --concurrency "$TLS_CONC"
		done
	fi
	if want scale; then
		for n in 1 2; do
			HAPROXY_THREADS=$n
			write_haproxy_config "$n"
			start_haproxy
			start_fixgw "workers: $n"
			for t in fixgw haproxy; do
				run_load scale-tput "$t" "$rep" 0 throughput --sessions "$TP_SESSIONS" --window "$TP_WINDOW"
				run_load scale-logons "$t" "$rep" 0 logons --concurrency "$LOGON_CONC"
			done
		done
		HAPROXY_THREADS=1
		write_haproxy_config 1
		start_haproxy
		start_fixgw ""
	fi
}
# switch_placement MODE: move the echo engine and restart both proxies under MODE.
switch_placement() {
	[[ $1 == "$CURRENT_PLACEMENT" ]] && return 0
	set_placement "$1"
	move_echo
	start_haproxy
	start_fixgw ""
}

for ((rep = 1; rep <= REPEAT; rep++)); do
	if [[ -n $FIXGW_VARIANT ]]; then start_fixgw ""; fi
	for p in ${PLACEMENTS//,/ }; do
		switch_placement "$p"
		main_scenarios "$rep"
	done
	switch_placement "$PLACEMENT"
	if want knobs; then
		for variant in "" "tuning: {tcpNoDelay: false}" "tuning: {reusePort: false}" \
			"tuning: {busyPollMicros: 50}"; do
			start_fixgw "$variant"
			run_load knob-lat1 fixgw "$rep" 0 latency --sessions 1
			run_load knob-lat100 fixgw "$rep" 0 latency --sessions "$LAT_SESSIONS" --rate "$RATE"
			if [[ -z $variant || $variant == *tcpNoDelay* ]]; then
				run_load knob-tput fixgw "$rep" 0 throughput --sessions "$TP_SESSIONS" --window "$TP_WINDOW"
			fi
			if [[ -z $variant ]]; then
				run_load knob-logons fixgw "$rep" 0 logons --concurrency "$LOGON_CONC"
			fi
		done
		start_fixgw "logLevel: warn"
		run_load knob-logons fixgw "$rep" 0 logons --concurrency "$LOGON_CONC"
		start_fixgw ""
	fi
	if ((HAVE_OTEL)); then
		modes=(off healthy blackholed)
		for ((i = 0; i < 3; i++)); do
			OTEL_MODE=${modes[(i + rep - 1) % 3]}
			wait_time_wait
			start_fixgw "$(otel_config "$OTEL_MODE")"
			"${PEER_CMD[@]}" "$FIXLOAD" logons --target "127.0.0.1:$FIXGW_PORT" --concurrency 2 --seconds 1 \
				--warmup-ms 0 >/dev/null || true
			run_load otel-lat1 fixgw "$rep" 0 latency --sessions 1
			run_load otel-lat100 fixgw "$rep" 0 latency --sessions "$LAT_SESSIONS" --rate "$RATE"
			run_load otel-logons fixgw "$rep" 0 logons --concurrency "$LOGON_CONC"
		done
		wait_time_wait
		OTEL_MODE=
		start_fixgw ""
	fi
	if want free; then
		set_placement free
		move_echo
		stop_haproxy
		start_haproxy
		for variant in "" "tuning: {pinWorkers: true}"; do
			start_fixgw "$variant"
			if [[ -z $variant ]]; then run_load free-lat1 direct "$rep" 0 latency --sessions 1; fi
			run_load free-lat1 fixgw "$rep" 0 latency --sessions 1
		done
		run_load free-lat1 haproxy "$rep" 0 latency --sessions 1
		set_placement "$PLACEMENT"
		move_echo
		stop_haproxy
		start_haproxy
		start_fixgw ""
	fi
done

# syscalls: per-operation syscall counts of each proxy (perf stat on the syscall tracepoints; the counts,
# not the timings, are what matter: tracing every syscall slows the run down).
syscall_profile() { # syscall_profile SCENARIO LABEL fixload-args...
	local scenario=$1 label=$2 pid port out="$TMP/perf.csv" line perf_pid
	shift 2
	pid=$(pid_of "$label")
	port=$(port_of "$label" 0)
	perf stat -x, -e 'syscalls:sys_enter_*,context-switches' -p "$pid" -o "$out" -- sleep "$((SECS + 2))" \
		>/dev/null 2>&1 &
	perf_pid=$!
	sleep 1 # perf needs a moment to attach to every tracepoint
	line=$("${PEER_CMD[@]}" "$FIXLOAD" "$@" --target "127.0.0.1:$port" --label "$label" --seconds "$SECS" \
		--warmup-ms 0) || true
	wait "$perf_pid" || true
	[[ $line == "{"*"}" && -s $out ]] || return 0
	local counts
	counts=$(awk -F, '$1 ~ /^[0-9]+$/ && $1 > 0 { sub("syscalls:sys_enter_", "", $3); printf "%s\"%s\":%s", sep, $3, $1; sep = "," }' "$out")
	line="${line%\}},\"scenario\":\"$scenario\",\"repeat\":1,\"variant\":\"\",\"placement\":\"$CURRENT_PLACEMENT\",\"syscalls\":{$counts}}"
	echo "$line" >>"$RESULTS"
	log "$scenario/$label: profiled"
}
if want syscalls; then
	if command -v perf >/dev/null && perf stat -e 'syscalls:sys_enter_close' -- true >/dev/null 2>&1; then
		for t in fixgw haproxy; do
			syscall_profile syscalls-lat1 "$t" latency --sessions 1
			syscall_profile syscalls-logons "$t" logons --concurrency "$LOGON_CONC"
		done
	else
		log "perf with syscall tracepoints is not available: no syscall profile"
	fi
fi

# idle: fresh proxy processes, so that pools and heaps grown by the runs above do not hide the cost.
measure_idle() { # measure_idle LABEL
	local label=$1 pid port rss0=0 rss1=0 mem0 mem1 slab0 slab1 out="$TMP/idle.out" i line
	port=$(port_of "$label" 0)
	pid=$(pid_of "$label")
	sleep 1
	if [[ -n $pid ]]; then rss0=$(rss_kb "$pid"); fi
	mem0=$(tcp_mem_pages)
	slab0=$(slab_kb)
	: >"$out"
	"${PEER_CMD[@]}" "$FIXLOAD" idle --target "127.0.0.1:$port" --label "$label" --sessions "$IDLE_SESSIONS" \
		--seconds 120 >"$out" &
	LOAD_PID=$!
	for ((i = 0; i < 1200; i++)); do
		grep -q '"ready":true' "$out" && break
		kill -0 "$LOAD_PID" 2>/dev/null || break
		sleep 0.1
	done
	sleep 2
	if [[ -n $pid ]]; then rss1=$(rss_kb "$pid"); fi
	mem1=$(tcp_mem_pages)
	slab1=$(slab_kb)
	line=$(head -1 "$out")
	stop_pid "$LOAD_PID"
	LOAD_PID=
	if [[ $line != "{"*"}" ]]; then
		log "idle/$label: fixload produced no result"
		return 0
	fi
	line="${line%\}},\"scenario\":\"idle\",\"repeat\":1,\"variant\":\"\",\"rss_kb_before\":$rss0"
	line+=",\"rss_kb_after\":$rss1,\"tcp_mem_pages_before\":$mem0,\"tcp_mem_pages_after\":$mem1"
	line+=",\"slab_kb_before\":$slab0,\"slab_kb_after\":$slab1}"
	echo "$line" >>"$RESULTS"
	log "idle/$label: $line"
	sleep 1
}
if want idle; then
	measure_idle direct
	start_fixgw ""
	measure_idle fixgw
	stop_fixgw
	start_haproxy
	measure_idle haproxy
fi

# ---- report ----

FIXGW_WARNINGS=$(grep -c '"level":"\(WARN\|ERROR\|CRITICAL\)"' "$TMP/fixgw.log" || true)
REPORT=${RESULTS%.jsonl}.md
{
	echo "# Gateway benchmark run $STAMP"
	echo
	echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
	echo "- fixgw from $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'), binary built $(date -u -r "$FIXGW" +%FT%TZ) ($BUILD); $("$HAPROXY" -v | head -1)"
	echo "- $SECS s per run after ${WARMUP_MS} ms warm-up, $REPEAT repeats (medians shown), placement $PLACEMENTS, scheduler: ${SCHED_CMD[*]:-default}, fixgw logLevel $FIXGW_LOG_LEVEL"
	echo "- lat100: $LAT_SESSIONS sessions at $RATE msg/s in total; tput: $TP_SESSIONS sessions x $TP_WINDOW in flight;" \
		"logons: $LOGON_CONC concurrent; TLS: $TLS_CONC concurrent, RSA-2048; idle: $IDLE_SESSIONS sessions (fd limit $NOFILE)"
	echo "- raw results: $(basename "$RESULTS")"
	echo
	python3 "$ROOT/bench/gateway/report.py" "$RESULTS"
} | tee "$REPORT"
log "results: $RESULTS"
log "fixgw warnings in the last fixgw log: $FIXGW_WARNINGS"
if ((FIXGW_WARNINGS > 0)); then
	grep '"level":"\(WARN\|ERROR\|CRITICAL\)"' "$TMP/fixgw.log" | grep -o '"event":"[a-z_]*"' | sort | uniq -c >&2 || true
fi
