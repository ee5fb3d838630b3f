#!/usr/bin/env bash
# systemd_dropin.sh DROPIN INSTALLED_LIB BUILD_LIB SANITIZED — the example
# drop-in carry-memcached.conf (scripts/systemd/, as meson configures and
# installs it) does what it says, as far as a machine without systemd can
# tell:
#  - its [Service] section is read the way systemd reads it (comments,
#    continuation lines, quoted words, C escapes, %% specifiers; an empty
#    ExecStart= resets the list), its Environment= words give LD_PRELOAD =
#    INSTALLED_LIB (where the package and `meson install` put libcarry.so)
#    and CARRY_TAG, and its ExecStart= runs memcached with -vv;
#  - memcached started with that environment (LD_PRELOAD = BUILD_LIB
#    instead of the installed path) and ExecStart's flags (the port, the
#    address, the user and the pid file replaced: a free port of 127.0.0.1,
#    root's own user, no pid file) logs, for a client that sets and gets a
#    key on one connection, every line about that connection on stderr (the
#    journal, under systemd) with a "[carry <16 hex>] " tag (a request's
#    lines "[carry <request> <connection>] "), the same connection id on
#    every one, and its "set" and "get" commands among them;
#  - the check can fail: the same run with the drop-in's CARRY_TAG line
#    taken out must fail it.
#  - where systemd-analyze and Debian's memcached.service are installed,
#    `systemd-analyze verify` accepts memcached.service with the drop-in in
#    its memcached.service.d/ (no running systemd needed).
# Readiness is memcached's port accepting a connection (a bounded retry
# loop); the end of the connection is memcached's "connection closed." line.
# SANITIZED "yes": skipped (a sanitizer-built libcarry needs its runtime
# preloaded first, which the drop-in does not do).
set -euo pipefail

if [ "$#" -ne 4 ]; then
	echo "usage: systemd_dropin.sh DROPIN INSTALLED_LIB BUILD_LIB SANITIZED" >&2
	exit 2
fi
dropin=$1 installed_lib=$2 build_lib=$3 sanitized=$4

if [ "$sanitized" = yes ]; then
	echo "systemd_dropin: sanitizer build: skipped (libcarry needs the sanitizer's runtime preloaded first)"
	exit 77
fi
if ! memcached=$(command -v memcached); then
	echo "systemd_dropin: memcached not found (Debian: memcached; scripts/test installs it): skipped"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/carry-dropin.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# parse_dropin FILE — the [Service] section's Environment= assignments and
# effective ExecStart= words, as systemd reads them, one per line:
# "env NAME=value" and "exec WORD". Fails on what it does not handle.
parse_dropin() {
	python3 - "$1" <<'EOF'
import re, sys

def unit_lines(text):
    """Logical lines: continuation lines joined, comments dropped."""
    out, cur = [], None
    for raw in text.split("\n"):
        line = raw.strip()
        if cur is None and (not line or line[0] in "#;"):
            continue
        if cur is not None and line and line[0] in "#;":
            continue  # a comment inside a continued line
        cur = line if cur is None else cur + " " + line
        if cur.endswith("\\"):
            cur = cur[:-1].rstrip()
            continue
        out.append(cur)
        cur = None
    if cur is not None:
        out.append(cur)
    return out

ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
       "v": "\v", "\\": "\\", '"': '"', "'": "'", "s": " "}

def words(value):
    """systemd's extract_first_word with quotes and C escapes, then
    specifiers: only %% (a literal %) is expected here."""
    out, i, n = [], 0, len(value)
    while True:
        while i < n and value[i] in " \t":
            i += 1
        if i >= n:
            return out
        word, quote = "", None
        while i < n:
            c = value[i]
            if quote is None and c in " \t":
                break
            if c == "\\" and i + 1 < n:
                e = value[i + 1]
                if e == "x" and re.match(r"[0-9a-fA-F]{2}", value[i + 2:i + 4]):
                    word += chr(int(value[i + 2:i + 4], 16))
                    i += 4
                    continue
                if e not in ESC:
                    sys.exit("unknown escape \\%s in %r" % (e, value))
                word += ESC[e]
                i += 2
                continue
            if quote is None and c in "\"'":
                quote = c
            elif c == quote:
                quote = None
            else:
                word += c
            i += 1
        if quote is not None:
            sys.exit("unterminated quote in %r" % value)
        if re.search(r"%[^%]", word.replace("%%", "")):
            sys.exit("a specifier other than %%%% in %r" % word)
        out.append(word.replace("%%", "%"))

section, env, exec_start = None, [], None
for line in unit_lines(open(sys.argv[1], encoding="utf-8").read()):
    m = re.fullmatch(r"\[(.+)\]", line)
    if m:
        section = m.group(1)
        continue
    if section != "Service" or "=" not in line:
        continue
    key, value = (s.strip() for s in line.split("=", 1))
    if key == "Environment":
        if not value:
            env = []  # an empty assignment resets the list
        for w in words(value):
            if not re.match(r"[A-Za-z_][A-Za-z0-9_]*=", w):
                sys.exit("not an assignment: %r" % w)
            env.append(w)
    elif key == "ExecStart":
        w = words(value)
        if w:
            w[0] = w[0].lstrip("@-:+!")  # systemd's prefixes
        exec_start = w or None  # empty: resets
for a in env:
    if "\n" in a:
        sys.exit("a newline in %r" % a)
    print("env " + a)
for w in exec_start or []:
    print("exec " + w)
EOF
}

# run_check DROPIN LOG — runs memcached as DROPIN says, talks to it, and
# checks the log; prints what is wrong and fails when something is. Run it
# in a subshell: it sets that subshell's EXIT trap (memcached is stopped).
run_check() {
	local file=$1 log=$2 line name value port rc=0 i
	local -a env_args=() mc_args=() exec_words=()
	local lib_seen=''
	local parsed
	parsed=$(parse_dropin "$file") || {
		echo "cannot read $file as systemd would"
		return 1
	}
	while IFS= read -r line; do
		case $line in
		env\ *)
			line=${line#env }
			name=${line%%=*} value=${line#*=}
			if [ "$name" = LD_PRELOAD ]; then
				lib_seen=$value
				value=$build_lib
			fi
			env_args+=("$name=$value")
			;;
		exec\ *) exec_words+=("${line#exec }") ;;
		esac
	done <<<"$parsed"
	if [ "$lib_seen" != "$installed_lib" ]; then
		echo "the drop-in's LD_PRELOAD is '$lib_seen', not the installed $installed_lib"
		rc=1
	fi
	if [ "${#exec_words[@]}" -eq 0 ] || [ "${exec_words[0]##*/}" != memcached ]; then
		echo "the drop-in's ExecStart= does not run memcached: ${exec_words[*]:-(none)}"
		return 1
	fi
	# ExecStart's flags, the ones that cannot work here replaced.
	for ((i = 1; i < ${#exec_words[@]}; i++)); do
		case ${exec_words[i]} in
		-p | -l | -u | -P | -U)
			i=$((i + 1))
			;;
		-d | --daemon) ;;
		-p* | -l* | -u* | -P* | -U* | --port=* | --listen=* | --user=* | --pidfile=* | --udp-port=*) ;;
		*) mc_args+=("${exec_words[i]}") ;;
		esac
	done
	case " ${mc_args[*]} " in
	*" -vv "* | *" -vvv "*) ;;
	*)
		echo "the drop-in's ExecStart= does not give memcached -vv (its connections go unlogged): ${exec_words[*]}"
		rc=1
		;;
	esac
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mc_args+=(-U 0 -l 127.0.0.1 -p "$port")
	# memcached refuses to run as root without -u.
	[ "$(id -u)" -ne 0 ] || mc_args+=(-u root)
	env -u LD_PRELOAD -u CARRY_TAG -u CARRY_MODE -u CARRY_SCOPE -u CARRY_LIB \
		${env_args[@]+"${env_args[@]}"} "$memcached" "${mc_args[@]}" </dev/null >"$log.out" 2>"$log" &
	pid=$!
	trap 'kill "$pid" 2>/dev/null || true' EXIT
	# The client: waits (bounded) for the port, sets and gets a key on one
	# connection, closes it; then waits (bounded) for memcached's
	# "connection closed." line.
	if ! python3 - "$port" "$log" "$pid" <<'EOF'; then
import os, socket, sys, time

port, log, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

def alive():
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False

deadline = time.monotonic() + 10
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        break
    except OSError as e:
        if not alive() or time.monotonic() > deadline:
            sys.exit("memcached is not accepting on port %d: %s" % (port, e))
        time.sleep(0.02)

def ask(cmd, end):
    s.sendall(cmd)
    got = b""
    while not got.endswith(end):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("memcached closed the connection after %r" % cmd)
        got += chunk
    return got

r1 = ask(b"set k 0 0 1\r\nv\r\n", b"\r\n")
r2 = ask(b"get k\r\n", b"END\r\n")
if r1 != b"STORED\r\n" or r2 != b"VALUE k 0 1\r\nv\r\nEND\r\n":
    sys.exit("memcached replied %r and %r" % (r1, r2))
s.close()
deadline = time.monotonic() + 10
while b"connection closed." not in open(log, "rb").read():
    if not alive() or time.monotonic() > deadline:
        sys.exit("memcached logged no 'connection closed.'")
    time.sleep(0.02)
EOF
		rc=1
	fi
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	# The lines about the client's connection: from its "<fd new ...
	# client connection" line, every statement "<fd ...", ">fd ..." or
	# "fd: ..." on that fd, after an optional tag.
	python3 - "$log" <<'EOF' || rc=1
import re, sys

text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
lines = text.splitlines()
TAG = r"\[carry ([0-9a-f]{16})(?: ([0-9a-f]{16}))?\] "
new = [re.match(r"(?:%s)?<(\d+) new .*client connection" % TAG, l) for l in lines]
new = [m for m in new if m]
if len(new) != 1:
    sys.exit("%d 'new ... client connection' lines, not 1, in memcached's stderr:\n%s" % (len(new), text))
fd = new[0].group(3)
stmt = re.compile(r"(%s)?(?:[<>]%s |%s: )" % (TAG, fd, fd))
mine = [(l, stmt.match(l)) for l in lines if stmt.match(l)]
bad = [l for l, m in mine if not m.group(1)]
conns = {m.group(3) or m.group(2) for l, m in mine if m.group(1)}
problems = []
if len(mine) < 5:
    problems.append("only %d lines about fd %s" % (len(mine), fd))
if bad:
    problems.append("%d of %d lines about fd %s have no [carry <id>] tag:\n  %s"
                    % (len(bad), len(mine), fd, "\n  ".join(bad)))
if len(conns) > 1:
    problems.append("the lines about fd %s name %d connection ids: %s" % (fd, len(conns), sorted(conns)))
for cmd in ("set k", "get k"):
    if not any(("<%s %s" % (fd, cmd)) in l for l, m in mine):
        problems.append("no '<%s %s' line" % (fd, cmd))
if problems:
    sys.exit("memcached's stderr:\n%s\n%s" % (text, "\n".join(problems)))
print("%d lines about the connection (fd %s), all tagged, connection %s:\n  %s"
      % (len(mine), fd, conns.pop(), "\n  ".join(l for l, m in mine)))
EOF
	return "$rc"
}

failed=0
verified=
unit=
for d in /lib/systemd/system /usr/lib/systemd/system; do
	[ -f "$d/memcached.service" ] && unit=$d/memcached.service && break
done
if [ -n "$unit" ] && command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$tmp/units/memcached.service.d"
	cp "$unit" "$tmp/units/"
	cp "$dropin" "$tmp/units/memcached.service.d/carry.conf"
	# It reads every unit on the path, and says what it finds wrong with
	# the machine's other units too (pgpool2's obsolete StandardOutput=
	# syslog, say): only what it says of memcached.service or the drop-in
	# is the drop-in's.
	if out=$(SYSTEMD_UNIT_PATH=$tmp/units: systemd-analyze verify "$tmp/units/memcached.service" 2>&1) &&
		out=$(printf '%s\n' "$out" | awk '/^\/[^: ]+:[0-9]+: / {
				split($1, at, ":")
				if (at[1] !~ /(memcached\.service|carry\.conf)$/)
					next
			}
			NF { print }') &&
		[ -z "$out" ]; then
		verified="; systemd-analyze verify accepts $unit with it"
	else
		echo "systemd_dropin: systemd-analyze verify $unit with the drop-in says:"$'\n'"$out" >&2
		failed=1
	fi
fi
if out=$(run_check "$dropin" "$tmp/log" 2>&1); then
	summary=$out
else
	echo "systemd_dropin: $dropin:"$'\n'"$out" >&2
	failed=1
fi

# The check can fail: without CARRY_TAG, memcached's lines go untagged.
grep -v '^[[:space:]]*Environment=CARRY_TAG=' "$dropin" >"$tmp/untagged.conf"
if cmp -s "$dropin" "$tmp/untagged.conf"; then
	echo "systemd_dropin: $dropin has no 'Environment=CARRY_TAG=' line to take out" >&2
	failed=1
elif out=$(run_check "$tmp/untagged.conf" "$tmp/log2" 2>&1); then
	echo "systemd_dropin: the check passes the drop-in without its CARRY_TAG line:"$'\n'"$out" >&2
	failed=1
elif ! grep -q 'have no \[carry <id>\] tag' <<<"$out"; then
	echo "systemd_dropin: without CARRY_TAG the check failed for another reason:"$'\n'"$out" >&2
	failed=1
fi

if [ "$failed" -eq 0 ]; then
	echo "systemd_dropin: memcached run as $(basename "$dropin") says: $summary;" \
		"the same without its CARRY_TAG line fails the check$verified"
fi
exit "$failed"
