#!/usr/bin/env bash
# install_tree.sh BUILD_ROOT VERSION BINDIR LIBDIR PKGLIBDIR INCLUDEDIR MANDIR
#   DATADIR SANITIZED
# — `meson install` into a temporary DESTDIR, then what a user of the
# installed tree relies on:
#  - every file at its standard meson path: BINDIR/carry,
#    PKGLIBDIR/libcarry.so (LIBDIR unless -Dpkglibdir says otherwise),
#    INCLUDEDIR/carry.h, LIBDIR/pkgconfig/carry.pc,
#    MANDIR/man{1,3,7}/carry.{1,3,7}, with the version put in, and the
#    example systemd drop-in DATADIR/carry/examples/carry-memcached.conf,
#    its LD_PRELOAD naming PKGLIBDIR/libcarry.so;
#  - carry.pc: pkg-config --modversion gives VERSION, --cflags the header's
#    directory, --libs nothing (nothing links libcarry), and a C file that
#    includes <carry.h> compiles with those flags (-Wall -Wextra -Werror,
#    C99) and runs (carry_available() 0 without libcarry);
#  - the installed launcher: --version prints "carry VERSION", --print-env
#    names the installed libcarry.so, and (unless SANITIZED is "yes": a
#    sanitizer-built libcarry needs its runtime preloaded first) it runs
#    the program with libcarry active (carry_available() 1).
# The directories are absolute (prefix joined). CC: the compiler command.
set -euo pipefail

if [ "$#" -ne 9 ]; then
	echo "usage: install_tree.sh BUILD_ROOT VERSION BINDIR LIBDIR PKGLIBDIR INCLUDEDIR MANDIR DATADIR SANITIZED" >&2
	exit 2
fi
build=$1 version=$2 bindir=$3 libdir=$4 pkglibdir=$5 includedir=$6 mandir=$7 datadir=$8 sanitized=$9
dropin=$datadir/carry/examples/carry-memcached.conf
failed=0
fail() {
	echo "install_tree: $*" >&2
	failed=1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/carry-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest

# The tests run after the build: install what is built, build nothing.
if ! log=$(meson install -C "$build" --no-rebuild --destdir "$dest" 2>&1); then
	echo "install_tree: meson install failed:" >&2
	printf '%s\n' "$log" >&2
	exit 1
fi

for f in "$bindir/carry" "$pkglibdir/libcarry.so" "$includedir/carry.h" \
	"$libdir/pkgconfig/carry.pc" "$mandir/man1/carry.1" "$mandir/man3/carry.3" \
	"$mandir/man7/carry.7" "$dropin"; do
	[ -f "$dest$f" ] || fail "not installed: $f"
done
[ -x "$dest$bindir/carry" ] || fail "$bindir/carry is not executable"
for f in "$bindir/carry" "$mandir/man1/carry.1" "$mandir/man3/carry.3" "$mandir/man7/carry.7" "$dropin"; do
	if [ -f "$dest$f" ] && grep -qE '@(VERSION|LIBDIR|LIBCARRY)@' "$dest$f"; then
		fail "$f still has a @...@ placeholder"
	fi
done
grep -q "\"carry $version\"" "$dest$mandir/man1/carry.1" 2>/dev/null ||
	fail "carry.1's title does not name carry $version"
grep -qx "Environment=LD_PRELOAD=$pkglibdir/libcarry.so" "$dest$dropin" 2>/dev/null ||
	fail "$dropin has no 'Environment=LD_PRELOAD=$pkglibdir/libcarry.so' line"

# --- pkg-config, only the installed tree's .pc (PKG_CONFIG_LIBDIR), its
# paths under the DESTDIR (PKG_CONFIG_SYSROOT_DIR).
pc() {
	PKG_CONFIG_LIBDIR=$dest$libdir/pkgconfig PKG_CONFIG_PATH='' \
		PKG_CONFIG_SYSROOT_DIR=$dest pkg-config "$@" carry
}
pc_file=$dest$libdir/pkgconfig/carry.pc
if [ -f "$pc_file" ]; then
	grep -q '^Libs' "$pc_file" && fail "carry.pc has a Libs line: $(grep '^Libs' "$pc_file")"
	grep -qx 'Name: carry' "$pc_file" || fail "carry.pc: no 'Name: carry'"
fi
got=$(pc --modversion) || fail "pkg-config --modversion carry failed"
[ "$got" = "$version" ] || fail "pkg-config --modversion carry: '$got', not '$version'"
cflags=$(pc --cflags) || fail "pkg-config --cflags carry failed"
cflags=${cflags% }
# Under a sysroot pkg-config keeps even /usr/include (without one it leaves
# the compiler's own directories out).
want="-I$dest$includedir"
[ "$cflags" = "$want" ] || fail "pkg-config --cflags carry: '$cflags', not '$want'"
libs=$(pc --libs) || fail "pkg-config --libs carry failed"
[ -z "${libs// /}" ] || fail "pkg-config --libs carry: '$libs', not empty"

cat >"$tmp/hello.c" <<'EOF'
#include <carry.h>
#include <stdio.h>

int main(void)
{
    printf("available=%d id=%d\n", carry_available(), carry_id() != 0);
    return 0;
}
EOF
read -r -a cc <<<"${CC:-cc}"
read -r -a flags <<<"$cflags"
# The installed header only: the flags are the one -I.
if (cd "$tmp" && "${cc[@]}" -std=c99 -Wall -Wextra -Werror ${flags[@]+"${flags[@]}"} \
	-o hello hello.c) 2>"$tmp/cc.err"; then
	out=$("$tmp/hello") || fail "hello (no libcarry) failed"
	[ "$out" = "available=0 id=0" ] || fail "hello without libcarry said '$out'"
else
	fail "a C file including <carry.h> does not compile with $(pc --cflags):"$'\n'"$(cat "$tmp/cc.err")"
fi

# --- The installed launcher, with nothing from the checkout around it.
launcher=$dest$bindir/carry
run_launcher() {
	env -u CARRY_LIB -u LD_PRELOAD "$launcher" "$@"
}
got=$(run_launcher --version) || fail "carry --version failed"
[ "$got" = "carry $version" ] || fail "carry --version: '$got', not 'carry $version'"
lib=$(cd "$dest$pkglibdir" && pwd -P)/libcarry.so
got=$(run_launcher --print-env --tag stderr) || fail "carry --print-env failed"
want="LD_PRELOAD=$lib"$'\n'"CARRY_TAG=stderr"
[ "$got" = "$want" ] || fail "installed carry --print-env --tag stderr printed"$'\n'"$got"$'\n'"not"$'\n'"$want"
if [ "$sanitized" = yes ]; then
	echo "install_tree: sanitizer build: not running the installed libcarry (it needs its runtime first)"
elif [ -x "$tmp/hello" ]; then
	got=$(run_launcher -- "$tmp/hello") || fail "installed carry -- hello failed"
	[ "$got" = "available=1 id=0" ] || fail "hello under the installed carry said '$got'"
fi

if [ "$failed" -eq 0 ]; then
	echo "install_tree: installed tree complete; pkg-config carry gives $version and '$cflags';" \
		"<carry.h> compiles with it; the installed launcher finds $lib"
fi
exit "$failed"
