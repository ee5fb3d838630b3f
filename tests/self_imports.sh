#!/usr/bin/env bash
# self_imports.sh LIBCARRY — libcarry must never call through its own
# exports: the core calling, say, syscall or close would run carry's own
# wrapper and its policy (fd ownership, tagging) from inside a warning or a
# signal handler.  A call to a symbol the library exports goes through a
# dynamic relocation naming that symbol (the symbol is interposable), so
# such a call shows as a relocation against a symbol the library defines.
# nm -D --undefined-only cannot show it: the symbol is defined here, the
# reference binds to the same dynamic symbol.  Sanitizer runtimes are
# libraries of their own: only libcarry's own tables count.
set -euo pipefail

if [ "$#" -ne 1 ]; then
	echo "usage: self_imports.sh LIBCARRY" >&2
	exit 2
fi
command -v readelf >/dev/null 2>&1 || {
	echo "self_imports: readelf not found (binutils)" >&2
	exit 1
}

# Dynamic symbols with a section index (not UND): what the library defines.
defined=$(readelf -W --dyn-syms "$1" |
	awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" && $8 != "" { sub(/@.*/, "", $8); print $8 }' |
	LC_ALL=C sort -u)
# Relocations that name a symbol: "offset info type value name + addend".
relocated=$(readelf -W --relocs "$1" |
	awk '$1 ~ /^[0-9a-f]+$/ && NF >= 7 { sub(/@.*/, "", $5); print $5 }' |
	LC_ALL=C sort -u)
own=$(LC_ALL=C comm -12 <(printf '%s\n' "$defined") <(printf '%s\n' "$relocated"))

if [ -n "$own" ]; then
	echo "self_imports: $1 calls or refers to these of its own exports through" \
		"a dynamic relocation:" >&2
	printf '  %s\n' $own >&2
	exit 1
fi
[ -n "$defined" ] || {
	echo "self_imports: no dynamic symbols read from $1" >&2
	exit 1
}
echo "self_imports: $(printf '%s\n' "$defined" | wc -l) defined symbols, none imported back"
