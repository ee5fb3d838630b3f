# shellcheck shell=bash disable=SC2034  # globals are for the scripts sourcing this
# Helpers sourced by the benchmark drivers in scripts/bench/.
#
# Sourced, so it sets no shell options itself (its callers run under
# `set -euo pipefail`, and every function here is correct under it).

# Repository root, from this file's location (scripts/bench/..).
CARRY_BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# shellcheck source-path=SCRIPTDIR source=../lib/deps.sh
. "$CARRY_BENCH_ROOT/scripts/lib/deps.sh"

# bench_prepare DIR — packages and build: what every driver does first.
bench_prepare() {
	# shellcheck disable=SC2086  # a list of package names
	carry_need_packages $CARRY_BASE_PACKAGES
	carry_build "$1"
}

# bench_pin_init [CPU] — sets the array BENCH_PIN to the command prefix that
# pins a benchmark to CPU (default 1), empty when taskset is missing or there
# is a single CPU, and BENCH_PIN_DESC to a description of it.
BENCH_PIN=()
BENCH_PIN_DESC="not pinned"
bench_pin_init() {
	local cpu=${1:-1} n
	n=$(nproc 2>/dev/null || echo 1)
	BENCH_PIN=()
	if ! command -v taskset >/dev/null 2>&1; then
		BENCH_PIN_DESC="not pinned (no taskset)"
	elif [ "$n" -lt 2 ]; then
		BENCH_PIN_DESC="not pinned (1 CPU)"
	else
			BENCH_PIN=(taskset -c "$cpu")
		BENCH_PIN_DESC="pinned to CPU $cpu of $n (taskset)"
	fi
}

# bench_carry_env — the CARRY_* variables set in the environment, as one
# line ("" when none), for headers: they change what is measured.
bench_carry_env() {
	env | LC_ALL=C grep '^CARRY_' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//' || true
}

# bench_date — the date for headers.
bench_date() {
	date -u '+%Y-%m-%d %H:%M:%S UTC'
}

# bench_commit [DIR] — the commit of the checkout DIR is in (default: this
# one), with "+dirty" for local changes, or "unknown".
bench_commit() {
	local dir=${1:-$CARRY_BENCH_ROOT} c
	c=$(git -C "$dir" rev-parse --short HEAD 2>/dev/null) || {
		echo unknown
		return 0
	}
	local changes
	changes=$(git -C "$dir" status --porcelain 2>/dev/null || true)
	[ -z "$changes" ] || c="$c+dirty"
	echo "$c"
}

# bench_free_port — a TCP port on 127.0.0.1 that nothing listens on now
# (the kernel's choice for port 0; python3 is a dependency of meson).
bench_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# bench_alive PID — succeeds while PID exists and is not a zombie (kill -0
# also succeeds for a zombie child that has not been waited for).
bench_alive() {
	local stat state
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	state=${stat##*) }
	state=${state%% *}
	[ "$state" != Z ] && [ "$state" != X ]
}

# bench_cpu_ns PID... — the nanoseconds the threads of these processes have
# spent on a CPU: the sum of the first field of /proc/PID/task/*/schedstat.
bench_cpu_ns() {
	local pid f ns total=0
	for pid in "$@"; do
		for f in /proc/"$pid"/task/*/schedstat; do
			# A thread may exit between the glob and the read.
			read -r ns _ 2>/dev/null <"$f" || continue
			total=$((total + ns))
		done
	done
	echo "$total"
}
