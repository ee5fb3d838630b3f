# shellcheck shell=bash
# Helpers sourced by scripts/test (and other drivers): install missing Debian
# packages and configure/build a meson build directory.
#
# This file is sourced, so it does not run `set -euo pipefail` itself: that
# would change the options of whatever shell sources it (an interactive one
# would exit on the first failing command). Its callers set them; every
# function here is written to be correct under them.

# What building and running the test suite needs (man-db, groff-base and
# bsdextrautils: the man_pages test renders the pages with man, groff, col).
# shellcheck disable=SC2034  # used by the scripts that source this file
CARRY_BASE_PACKAGES="meson ninja-build gcc g++ pkg-config libcriterion-dev libunwind-dev python3 libevent-dev libev-dev libuv1-dev man-db groff-base bsdextrautils"

# The real servers the servers suite (tests/integration/test_servers.c),
# the datagram tests (tests/integration/test_udp.c: unbound) and
# scripts/demo run under carry.  "a|b" is satisfied by either package and
# installs the first: any nginx flavour will do (they conflict with each
# other), and nginx-light is the smallest.
# shellcheck disable=SC2034  # used by the scripts that source this file
CARRY_SERVER_PACKAGES="memcached redis-server nginx-light|nginx-core|nginx-full|nginx-extras unbound"

# What scripts/package needs besides the base packages: the Debian
# packaging tools and lintian (the package_deb test skips without them).
# shellcheck disable=SC2034  # used by the scripts that source this file
CARRY_PACKAGING_PACKAGES="build-essential dpkg-dev debhelper fakeroot lintian git"

# Repository root, from this file's location (scripts/lib/..).
CARRY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Set once `apt-get update` has run, so several calls in one script only
# refresh the package lists once.
_carry_apt_updated=0

# _carry_installed PKG — succeeds when the Debian package PKG is installed.
_carry_installed() {
	local status
	# Capture instead of piping into `grep -q`: grep exiting early could
	# give dpkg-query a SIGPIPE, which pipefail would report as failure.
	# shellcheck disable=SC2016  # ${Status} is dpkg-query's syntax
	status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
	case $status in
	*"install ok installed"*) return 0 ;;
	*) return 1 ;;
	esac
}

# carry_need_packages PKG... — install the Debian packages that are missing.
# PKG may be "a|b|...": satisfied by any of them, installs the first.
# Returns 1 (after saying why) when something is missing and cannot be
# installed.  Services that packages start on installation (memcached,
# redis-server, nginx) are not started: while apt-get runs, a
# /usr/sbin/policy-rc.d that denies every start is put in place (unless
# the system has one of its own), and removed after.
carry_need_packages() {
	local pkg alt log policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
	local -a missing=() alts=()

	# Not Debian: we cannot check, so let the build report what is missing.
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "carry: dpkg-query not found; not checking for packages: $*" >&2
		return 0
	fi

	for pkg in "$@"; do
		IFS='|' read -r -a alts <<<"$pkg"
		for alt in "${alts[@]}"; do
			_carry_installed "$alt" && continue 2
		done
		missing+=("${alts[0]}")
	done
	[ "${#missing[@]}" -eq 0 ] && return 0

	if [ "${EUID:-$(id -u)}" -ne 0 ]; then
		echo "carry: missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
		return 1
	fi

	log=$(mktemp "${TMPDIR:-/tmp}/carry-apt.XXXXXX") || return 1
	echo "carry: installing ${missing[*]}..." >&2
	if [ "$_carry_apt_updated" -eq 0 ]; then
		# A failed update is not fatal: the install below may still work
		# from the existing lists, and if it does not, the log says why.
		apt-get update -qq >>"$log" 2>&1 || true
		_carry_apt_updated=1
	fi
	if [ ! -e "$policy" ] && [ -d "${policy%/*}" ]; then
		# 101: "action forbidden by policy" (invoke-rc.d(8)).
		printf '#!/bin/sh\n# carry: no service starts while scripts/lib/deps.sh installs packages\nexit 101\n' \
			>"$policy" && chmod 755 "$policy" && made_policy=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >>"$log" 2>&1 || rc=$?
	[ "$made_policy" -eq 0 ] || rm -f "$policy"
	if [ "$rc" -ne 0 ]; then
		echo "carry: installing ${missing[*]} failed; last lines of $log:" >&2
		tail -n 20 "$log" >&2
		return 1
	fi
	rm -f "$log"
}

# carry_otlp_node DIR — installs the npm packages pinned in tests/support/otlp
# (protobufjs and the official opentelemetry-proto definitions, which the OTLP
# tests decode carry's spans with) into DIR/node_modules with `npm ci`; DIR is
# in a build directory, never in the source tree. Does nothing when DIR already
# has them from the same lock file. When npm or the registry is unavailable, it
# says so and returns 0: those tests skip, saying why.
carry_otlp_node() {
	local dir=$1 src="$CARRY_ROOT/tests/support/otlp" log
	if ! command -v npm >/dev/null 2>&1; then
		echo "carry: npm not found; the OTLP tests will skip" >&2
		return 0
	fi
	if [ -d "$dir/node_modules" ] && cmp -s "$src/package-lock.json" "$dir/package-lock.json"; then
		return 0
	fi
	mkdir -p "$dir" && cp "$src/package.json" "$src/package-lock.json" "$dir/" || return 0
	log=$(mktemp "${TMPDIR:-/tmp}/carry-npm.XXXXXX") || return 0
	if ! (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund) >"$log" 2>&1; then
		echo "carry: npm ci in $dir failed; the OTLP tests will skip; last lines:" >&2
		tail -n 5 "$log" >&2
		rm -rf "$dir/node_modules"
	fi
	rm -f "$log"
}

# _carry_options_differ DIR OPTS... — succeeds when a -Dname=value in OPTS is
# not what DIR is configured with (or DIR cannot be introspected).
_carry_options_differ() {
	local dir=$1 json
	shift
	json=$(meson introspect "$dir" --buildoptions 2>/dev/null) || return 0
	# python3 is a dependency of meson, so it is always there.
	printf '%s' "$json" | python3 -c '
import json, sys

def norm(v):
    # Booleans print as meson spells them; newer meson makes b_sanitize an
    # array, older a combo string: compare both as sorted comma lists.
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        v = ",".join(str(x) for x in v)
    return ",".join(sorted(p.strip() for p in str(v).split(",") if p.strip()))

have = {o["name"]: o["value"] for o in json.load(sys.stdin)}
want = {}
args = sys.argv[1:]
i = 0
while i < len(args):
    a = args[i]
    if a == "-D" and i + 1 < len(args):
        a = "-D" + args[i + 1]
        i += 1
    if a.startswith("-D") and "=" in a:
        k, v = a[2:].split("=", 1)
        want[k] = v
    i += 1
for k, v in want.items():
    if k not in have or norm(have[k]) != norm(v):
        sys.exit(0)
sys.exit(1)
' "$@"
}

# carry_build DIR [meson options...] — configure DIR (relative to the repo
# root) if needed, reconfigure it if its -D options differ from the ones given,
# then build it. Output is shown only when a step fails.
carry_build() {
	local dir=$1 log rc=0
	shift
	log=$(mktemp "${TMPDIR:-/tmp}/carry-build.XXXXXX") || return 1
	(
		cd "$CARRY_ROOT" || exit 200
		if [ ! -f "$dir/build.ninja" ]; then
			echo "carry: configuring $dir" >&2
			if [ -f "$dir/meson-private/coredata.dat" ]; then
				# Half-configured (an earlier setup failed): start over.
				meson setup --wipe --buildtype=debugoptimized "$@" "$dir" >"$log" 2>&1
			else
				meson setup --buildtype=debugoptimized "$@" "$dir" >"$log" 2>&1
			fi || exit 200
		elif _carry_options_differ "$dir" "$@"; then
			# A stale directory must never silently run the wrong variant.
			# `meson configure`, not `setup --reconfigure`: meson 1.0 was seen to ignore
			# -D on --reconfigure for an option last set by `meson configure`.
			# Check the result; wipe (keeping the other options) if it did
			# not take, e.g. for a directory made by another meson version.
			echo "carry: reconfiguring $dir ($*)" >&2
			if ! meson configure "$dir" "$@" >"$log" 2>&1 ||
				_carry_options_differ "$dir" "$@"; then
				meson setup --wipe "$@" "$dir" >"$log" 2>&1 || exit 200
			fi
		fi
		ninja -C "$dir" >"$log" 2>&1
	) || rc=$?
	# 200: the subshell's code for a failed configure step.
	if [ "$rc" -eq 200 ]; then
		echo "carry: configuring $dir failed:" >&2
		cat "$log" >&2
	elif [ "$rc" -ne 0 ]; then
		echo "carry: building $dir failed:" >&2
		cat "$log" >&2
	fi
	rm -f "$log"
	return "$rc"
}
