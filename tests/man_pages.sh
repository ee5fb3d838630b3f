#!/usr/bin/env bash
# man_pages.sh SOURCE_ROOT CARRY.1 CARRY.3 CARRY.7 — the man pages as
# meson installs them (configured from scripts/man/):
#  - each renders with no warning, through man(1) as lintian runs it and
#    through groff with every warning on;
#  - carry(1) documents, in its ENVIRONMENT section, every CARRY_* and
#    OTEL_* variable libcarry's sources (shim/, interpose/) or the launcher
#    (scripts/carry) name, and, in OPTIONS, every option the launcher
#    parses;
#  - carry(3) shows every public function of shim/carry.h in its SYNOPSIS
#    and describes it, and names every public macro and type.
# The lists come from the sources, not from a list kept here. Then each
# check is run once on a page with one name taken out, and must fail.
set -euo pipefail

if [ "$#" -ne 4 ]; then
	echo "usage: man_pages.sh SOURCE_ROOT CARRY.1 CARRY.3 CARRY.7" >&2
	exit 2
fi
root=$1 page1=$2 page3=$3 page7=$4
failed=0
fail() {
	echo "man_pages: $*" >&2
	failed=1
}

for tool in man groff; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "man_pages: $tool not found (Debian: man-db, groff-base)" >&2
		exit 1
	}
done

# --- (a) Each page renders, with no warning.
for page in "$page1" "$page3" "$page7"; do
	err=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
		man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null) ||
		fail "man -l $page failed"
	[ -z "$err" ] || fail "man -l $page warns:"$'\n'"$err"
	err=$(groff -man -ww -z "$page" 2>&1) || fail "groff $page failed"
	[ -z "$err" ] || fail "groff -man -ww $page warns:"$'\n'"$err"
	text=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l -Tutf8 "$page" 2>/dev/null | col -b)
	case $text in
	*NAME*DESCRIPTION*) ;;
	*) fail "$page renders no NAME and DESCRIPTION" ;;
	esac
	! grep -q '@VERSION@' "$page" || fail "$page still has @VERSION@ (not configured)"
done

# section PAGE NAME — the roff source of section NAME (.SH NAME up to the
# next .SH), with \- as -.
section() {
	awk -v want="$2" '/^\.SH / { on = ($0 == ".SH " want); next } on' "$1" | sed 's/\\-/-/g'
}

# has TEXT WORD — TEXT holds WORD as a whole word (letters, digits, _ and
# - are word characters).
has() {
	grep -qE "(^|[^A-Za-z0-9_-])$2([^A-Za-z0-9_-]|\$)" <<<"$1"
}

# --- (b) What the sources name.
shopt -s nullglob
lib_sources=("$root"/shim/*.c "$root"/interpose/*.c)
shopt -u nullglob
# Variables libcarry reads: the string literals naming a variable on the
# lines that call a getenv-like function (getenv_fn("X"),
# carry__parse_choice(getenv_fn, "X", ...), secure_getenv("X")), and the
# OTLP pairs carry__otlp_var builds from a prefix format and a suffix.
mapfile -t lib_vars < <(grep -hE 'getenv' "${lib_sources[@]}" |
	grep -ohE '"(CARRY|OTEL)_[A-Z][A-Z0-9_]*"' | tr -d '"' | LC_ALL=C sort -u)
mapfile -t otlp_prefixes < <(grep -ohE '"OTEL_[A-Z_]*_%s"' "${lib_sources[@]}" |
	sed 's/^"//; s/%s"$//' | LC_ALL=C sort -u)
mapfile -t otlp_suffixes < <(grep -ohE 'carry__otlp_var\(getenv_fn, "[A-Z_]+"' "${lib_sources[@]}" |
	sed -E 's/.*"([A-Z_]+)"$/\1/' | LC_ALL=C sort -u)
for p in ${otlp_prefixes[@]+"${otlp_prefixes[@]}"}; do
	for s in ${otlp_suffixes[@]+"${otlp_suffixes[@]}"}; do
		lib_vars+=("$p$s")
	done
done
# The launcher: every variable it reads, sets or names.
mapfile -t launcher_vars < <(grep -ohE '(CARRY|OTEL)_[A-Z][A-Z0-9_]*' "$root/scripts/carry" |
	LC_ALL=C sort -u)
mapfile -t env_vars < <(printf '%s\n' "${lib_vars[@]}" "${launcher_vars[@]}" | LC_ALL=C sort -u)
# The launcher's options: the arms of its parser (lines "--name)" and
# "-h | --help)").
mapfile -t options < <(grep -ohE '^[[:space:]]*(-h \| )?--[a-z][a-z-]*\)' "$root/scripts/carry" |
	grep -oE -- '--[a-z][a-z-]*' | LC_ALL=C sort -u)
# carry.h: its public functions, macros (not the include guard) and types.
header=$root/shim/carry.h
mapfile -t functions < <(sed -nE 's/^static inline .*[ *](carry_[a-z][a-z0-9_]*)\(.*/\1/p' "$header" |
	LC_ALL=C sort -u)
guard=$(sed -nE 's/^#ifndef ([A-Z_]+)$/\1/p' "$header" | head -n 1)
mapfile -t macros < <(sed -nE 's/^#define (CARRY_[A-Z][A-Z0-9_]*)\b.*/\1/p' "$header" |
	grep -vx -- "${guard:-none}" | LC_ALL=C sort -u)
mapfile -t types < <(grep -ohE '(typedef struct carry_[a-z_]+ carry_[a-z_]+|^struct carry_[a-z][a-z_]*)' "$header" |
	grep -oE 'carry_[a-z_]+$' | LC_ALL=C sort -u)

# The derivation itself must have found something of each kind: an empty
# list would make the checks below pass vacuously.
n_carry=$(printf '%s\n' "${lib_vars[@]}" | grep -c '^CARRY_' || true)
[ "$n_carry" -ge 10 ] || fail "found only $n_carry CARRY_* variables in libcarry's sources"
if [ "${#otlp_prefixes[@]}" -lt 2 ] || [ "${#otlp_suffixes[@]}" -lt 3 ]; then
	fail "found no OTLP variables built by carry__otlp_var"
fi
[ "${#options[@]}" -ge 15 ] || fail "found only ${#options[@]} launcher options"
[ "${#functions[@]}" -ge 10 ] || fail "found only ${#functions[@]} functions in carry.h"
[ "${#macros[@]}" -ge 3 ] || fail "found only ${#macros[@]} macros in carry.h"
[ "${#types[@]}" -ge 2 ] || fail "found only ${#types[@]} types in carry.h"

# check_page1 PAGE — what carry(1) must document; prints what is missing.
check_page1() {
	local env opts v o rc=0
	env=$(section "$1" ENVIRONMENT)
	opts=$(section "$1" OPTIONS)
	for v in "${env_vars[@]}"; do
		has "$env" "$v" || {
			echo "carry(1) ENVIRONMENT does not document $v"
			rc=1
		}
	done
	for o in "${options[@]}"; do
		has "$opts" "$o" || {
			echo "carry(1) OPTIONS does not document $o"
			rc=1
		}
	done
	return "$rc"
}

# check_page3 PAGE — what carry(3) must document; prints what is missing.
check_page3() {
	local syn desc all f m rc=0
	syn=$(section "$1" SYNOPSIS)
	desc=$(section "$1" DESCRIPTION)
	all=$(sed 's/\\-/-/g' "$1")
	for f in "${functions[@]}"; do
		grep -qF "$f(" <<<"$syn" || {
			echo "carry(3) SYNOPSIS has no $f()"
			rc=1
		}
		has "$desc" "$f" || {
			echo "carry(3) DESCRIPTION does not describe $f"
			rc=1
		}
	done
	for m in "${macros[@]}" "${types[@]}"; do
		has "$all" "$m" || {
			echo "carry(3) does not name $m"
			rc=1
		}
	done
	return "$rc"
}

if ! out=$(check_page1 "$page1"); then fail "$out"; fi
if ! out=$(check_page3 "$page3"); then fail "$out"; fi

# --- The checks can fail: a page with one name taken out is caught.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/carry-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# without PAGE WORD OUT — PAGE with every whole-word WORD removed, to OUT.
without() {
	sed -E "s/(^|[^A-Za-z0-9_])$2([^A-Za-z0-9_]|\$)/\1\2/g; s/(^|[^A-Za-z0-9_])$2([^A-Za-z0-9_]|\$)/\1\2/g" "$1" >"$3"
}
for v in CARRY_MODE "${lib_vars[-1]}"; do
	without "$page1" "$v" "$tmp/carry.1"
	if out=$(check_page1 "$tmp/carry.1"); then
		fail "the carry(1) check passes a page without $v"
	elif ! grep -q "$v" <<<"$out"; then
		fail "the carry(1) check, on a page without $v, said: $out"
	fi
done
o=--print-env
sed 's/\\-\\-print\\-env/--gone/g' "$page1" >"$tmp/carry.1"
if check_page1 "$tmp/carry.1" >/dev/null; then
	fail "the carry(1) check passes a page without $o"
fi
for f in "${functions[0]}" "${macros[0]}"; do
	without "$page3" "$f" "$tmp/carry.3"
	if check_page3 "$tmp/carry.3" >/dev/null; then
		fail "the carry(3) check passes a page without $f"
	fi
done

if [ "$failed" -eq 0 ]; then
	echo "man_pages: 3 pages render cleanly; carry(1) documents ${#env_vars[@]} variables" \
		"and ${#options[@]} options, carry(3) ${#functions[@]} functions," \
		"${#macros[@]} macros and ${#types[@]} types; the checks fail on pages missing one"
fi
exit "$failed"
