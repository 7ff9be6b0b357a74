# lib.sh - shell helpers that scripts/run.sh and scripts/demo.sh share (sourced, not run). Waits here are
# bounded by the clock, not by turns of a loop, and end as soon as their condition holds: a busy machine makes
# them neither fail early nor last forever. Messages start with "$LIB_WHO: " (the sourcing script sets it).

# now_ms: milliseconds on the shell's clock.
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for FILE PATTERN PID WHAT: until FILE has a line matching PATTERN (30 s), or PID has exited. On failure
# says on stderr that WHAT did not start, with FILE's last lines, and returns 1.
wait_for() {
	local file=$1 pattern=$2 pid=$3 what=$4 deadline
	deadline=$(($(now_ms) + 30000))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		grep -q -- "$pattern" "$file" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	grep -q -- "$pattern" "$file" 2>/dev/null && return 0
	echo "$LIB_WHO: $what did not start; its output:" >&2
	tail -n 20 "$file" >&2 || true
	return 1
}

# stop_pids PID...: SIGTERM to each, up to 10 s for all of them to exit, then SIGKILL; reaps them.
stop_pids() {
	local pid deadline
	for pid in "$@"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	deadline=$(($(now_ms) + 10000))
	for pid in "$@"; do
		while kill -0 "$pid" 2>/dev/null && [ "$(now_ms)" -lt "$deadline" ]; do
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}
