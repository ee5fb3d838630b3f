#!/usr/bin/env bash
# exports.sh LIBCARRY LIST — the functions LIBCARRY exports (nm types T, W,
# i, with their symbol versions) are exactly those LIST names.
set -euo pipefail

if [ "$#" -ne 2 ]; then
	echo "usage: exports.sh LIBCARRY LIST" >&2
	exit 2
fi
command -v nm >/dev/null 2>&1 || {
	echo "exports: nm not found (binutils)" >&2
	exit 1
}

have=$(nm -D --defined-only "$1" | awk '$2 ~ /^[TWi]$/ { print $3 }' | LC_ALL=C sort -u)
want=$(grep -v '^#' "$2" | LC_ALL=C sort -u)
missing=$(LC_ALL=C comm -13 <(printf '%s\n' "$have") <(printf '%s\n' "$want"))
extra=$(LC_ALL=C comm -23 <(printf '%s\n' "$have") <(printf '%s\n' "$want"))
rc=0
if [ -n "$missing" ]; then
	echo "exports: $1 does not export what $2 lists:" >&2
	printf '%s\n' "$missing" | sed 's/^/  /' >&2
	rc=1
fi
if [ -n "$extra" ]; then
	echo "exports: $1 exports what $2 does not list (add it there):" >&2
	printf '%s\n' "$extra" | sed 's/^/  /' >&2
	rc=1
fi
[ "$rc" -eq 0 ] && echo "exports: the $(printf '%s\n' "$have" | wc -l) functions $2 lists"
exit "$rc"
