#!/usr/bin/env bash
# passthrough_symbols.sh LIBCARRY PASSTHROUGH — the pass-through preload
# (tests/bench/passthrough.c) must define exactly the functions libcarry
# exports, less carry_api_v1 (which it must not define, so that carry.h sees
# no carry).  Run by the test passthrough_symbols and by the benchmark
# drivers before they measure.  Only functions (nm types T, W, i) count:
# sanitized builds add data symbols of their own.
set -euo pipefail

if [ "$#" -ne 2 ]; then
	echo "usage: passthrough_symbols.sh LIBCARRY PASSTHROUGH" >&2
	exit 2
fi
command -v nm >/dev/null 2>&1 || {
	echo "passthrough_symbols: nm not found (binutils)" >&2
	exit 1
}

functions() {
	nm -D --defined-only "$1" | awk '$2 ~ /^[TWi]$/ { print $3 }' | LC_ALL=C sort -u
}

carry=$(functions "$1")
passthrough=$(functions "$2")
rc=0
if printf '%s\n' "$passthrough" | grep -qx carry_api_v1; then
	echo "passthrough_symbols: $2 defines carry_api_v1: carry.h would take it for carry" >&2
	rc=1
fi
want=$(printf '%s\n' "$carry" | grep -vx carry_api_v1 || true)
if [ "$want" != "$passthrough" ]; then
	echo "passthrough_symbols: $2 does not interpose what $1 does" \
		"(< only libcarry, > only the pass-through):" >&2
	diff <(printf '%s\n' "$want") <(printf '%s\n' "$passthrough") | grep '^[<>]' >&2 || true
	rc=1
fi
[ "$rc" -ne 0 ] || echo "passthrough_symbols: $(printf '%s\n' "$want" | wc -l) functions, the same in both"
exit "$rc"
