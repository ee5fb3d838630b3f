#!/usr/bin/env bash
# package_deb.sh SOURCE_ROOT VERSION SANITIZED — scripts/package builds the
# Debian packages from the checkout's tracked files, and they hold what
# they should:
#  - scripts/package succeeds: dpkg-buildpackage built libcarry0,
#    libcarry-dev and carry at VERSION, and lintian reported no error;
#  - dpkg-deb -c: libcarry0 holds libcarry.so in /usr/lib/<multiarch>/carry/
#    and no other shared object (none on the linker's path); libcarry-dev
#    carry.h, carry.pc and carry(3); carry the launcher, carry(1), carry(7)
#    and the example drop-in; no file is in two packages; carry depends on
#    libcarry0 (= VERSION);
#  - the packages extracted with dpkg -x into one directory: the launcher
#    prints "carry VERSION", finds the libcarry.so of its own tree (in the
#    private directory) by itself, and runs a program compiled against the
#    extracted carry.h (pkg-config, the extracted carry.pc) with libcarry
#    active (carry_available() 1), with and without --lib; the drop-in names
#    /usr/lib/<multiarch>/carry/libcarry.so.
# Skipped when the packaging tools are not installed (scripts/test installs
# them as root), outside a git checkout, and in a sanitizer build (the
# packages do not depend on the build directory: the plain build checks
# them).
set -euo pipefail

if [ "$#" -ne 3 ]; then
	echo "usage: package_deb.sh SOURCE_ROOT VERSION SANITIZED" >&2
	exit 2
fi
root=$1 version=$2 sanitized=$3

if [ "$sanitized" = yes ]; then
	echo "package_deb: sanitizer build: skipped (the packages are built from the sources; the plain build checks them)"
	exit 77
fi
missing=()
for pkg in build-essential dpkg-dev debhelper fakeroot lintian; do
	# shellcheck disable=SC2016  # ${Status} is dpkg-query's syntax
	case $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true) in
	*"install ok installed"*) ;;
	*) missing+=("$pkg") ;;
	esac
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "package_deb: skipped: not installed: ${missing[*]} (scripts/test installs them when run as root)"
	exit 77
fi
if ! git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
	echo "package_deb: skipped: $root is not a git checkout (scripts/package packages the tracked files)"
	exit 77
fi

failed=0
fail() {
	echo "package_deb: $*" >&2
	failed=1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/carry-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out

if ! log=$("$root/scripts/package" --out "$out" 2>&1); then
	echo "package_deb: scripts/package failed:" >&2
	printf '%s\n' "$log" >&2
	exit 1
fi
lintian_line=$(grep '^carry: lintian: ' <<<"$log" || true)

ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
private=/usr/lib/$ma/carry

# contents PACKAGE — the files (not directories) of PACKAGE's .deb, as
# absolute paths, sorted.
contents() {
	dpkg-deb --fsys-tarfile "$out/$1_${version}_$arch.deb" | tar -t |
		grep -v '/$' | sed 's|^\./|/|' | LC_ALL=C sort
}

declare -A want=(
	[libcarry0]="$private/libcarry.so"
	[libcarry-dev]="/usr/include/carry.h /usr/lib/$ma/pkgconfig/carry.pc /usr/share/man/man3/carry.3.gz"
	[carry]="/usr/bin/carry /usr/share/carry/examples/carry-memcached.conf /usr/share/man/man1/carry.1.gz /usr/share/man/man7/carry.7.gz"
)
all=()
for pkg in libcarry0 libcarry-dev carry; do
	deb=$out/${pkg}_${version}_$arch.deb
	if [ ! -f "$deb" ]; then
		fail "scripts/package made no ${deb##*/}; it made: $(cd "$out" && echo *.deb)"
		continue
	fi
	mapfile -t files < <(contents "$pkg")
	all+=("${files[@]}")
	for f in ${want[$pkg]}; do
		printf '%s\n' "${files[@]}" | grep -qxF -- "$f" || fail "$pkg does not ship $f"
	done
	for f in "${files[@]}"; do
		case $f in
		"/usr/share/doc/$pkg/copyright" | "/usr/share/doc/$pkg/changelog.gz") ;;
		*) [[ " ${want[$pkg]} " == *" $f "* ]] || fail "$pkg ships $f, which it should not" ;;
		esac
	done
done
dups=$(printf '%s\n' "${all[@]}" | grep -v '^/usr/share/doc/' | LC_ALL=C sort | uniq -d)
[ -z "$dups" ] || fail "files in two packages: $dups"
if [ -f "$out/carry_${version}_$arch.deb" ]; then
	deps=$(dpkg-deb -f "$out/carry_${version}_$arch.deb" Depends)
	[[ $deps == *"libcarry0 (= $version)"* ]] || fail "carry's Depends is '$deps', without libcarry0 (= $version)"
fi

# --- The packages extracted into one tree, run from there.
tree=$tmp/tree
mkdir "$tree"
for deb in "$out"/libcarry0_*.deb "$out"/libcarry-dev_*.deb "$out"/carry_*.deb; do
	dpkg -x "$deb" "$tree"
done
launcher=$tree/usr/bin/carry
lib=$tree$private/libcarry.so
run_launcher() {
	env -u CARRY_LIB -u LD_PRELOAD "$launcher" "$@"
}
got=$(run_launcher --version) || fail "the packaged carry --version failed"
[ "$got" = "carry $version" ] || fail "the packaged carry --version: '$got', not 'carry $version'"
got=$(run_launcher --print-env) || fail "the packaged carry --print-env failed"
[ "$got" = "LD_PRELOAD=$lib" ] || fail "the packaged carry, extracted, finds '$got', not LD_PRELOAD=$lib"
grep -qx "Environment=LD_PRELOAD=$private/libcarry.so" "$tree/usr/share/carry/examples/carry-memcached.conf" ||
	fail "the packaged drop-in does not preload $private/libcarry.so"

cflags=$(PKG_CONFIG_LIBDIR=$tree/usr/lib/$ma/pkgconfig PKG_CONFIG_PATH='' \
	PKG_CONFIG_SYSROOT_DIR=$tree pkg-config --cflags carry) || fail "pkg-config --cflags carry (extracted) failed"
cat >"$tmp/hello.c" <<'EOF'
#include <carry.h>
#include <stdio.h>

int main(void)
{
    printf("available=%d\n", carry_available());
    return 0;
}
EOF
read -r -a flags <<<"$cflags"
if ! cc -std=c99 -Wall -Wextra -Werror ${flags[@]+"${flags[@]}"} -o "$tmp/hello" "$tmp/hello.c" 2>"$tmp/cc.err"; then
	fail "hello.c does not compile against the extracted carry.h ($cflags):"$'\n'"$(cat "$tmp/cc.err")"
else
	got=$("$tmp/hello") || fail "hello without carry failed"
	[ "$got" = available=0 ] || fail "hello without carry said '$got'"
	got=$(run_launcher -- "$tmp/hello") || fail "the packaged carry -- hello failed"
	[ "$got" = available=1 ] || fail "hello under the packaged carry said '$got'"
	got=$(run_launcher --lib "$lib" -- "$tmp/hello") || fail "the packaged carry --lib ... -- hello failed"
	[ "$got" = available=1 ] || fail "hello under the packaged carry --lib $lib said '$got'"
fi

if [ "$failed" -eq 0 ]; then
	echo "package_deb: libcarry0, libcarry-dev and carry $version built, each with its files only" \
		"(${lintian_line#carry: }); extracted, the launcher finds $private/libcarry.so of its tree" \
		"and runs a program built against the packaged carry.h with libcarry active"
fi
exit "$failed"
