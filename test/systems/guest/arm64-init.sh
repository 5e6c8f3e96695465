#!/bin/busybox sh
# /init of the arm64 guest (test/systems/arm64_test.go): PID 1 of an
# initramfs holding Debian 12's busybox-static and arm64 libc6, the arm64
# build (/usr/lib/aarch64-linux-gnu/libkeepalive.so, /usr/bin/keepalive), the
# static Go probe and dynamic C drivers (test/c). No systemd, no disk, no
# network but loopback. Each result is one console line:
#   KA-RESULT<TAB>NAME<TAB>pass|fail|skip|info<TAB>DETAIL
# and "KA-RESULT<TAB>done<TAB>info<TAB>-" after the last; then it powers off.
# Every check reads what it judges back from the kernel (getsockopt in the
# C driver, getsockopt on a pidfd_getfd duplicate in probe socks), beside a
# control run.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run
/bin/busybox --install -s
export PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
ip link set lo up

result() { # NAME VERDICT DETAIL...
	local name=$1 verdict=$2
	shift 2
	printf 'KA-RESULT\t%s\t%s\t%s\n' "$name" "$verdict" "$(echo "$*" | tr '\t\n' '  ' | cut -c1-600)"
}
# verdict NAME CONDITION DETAIL: pass when CONDITION (a command) succeeds.
verdict() {
	local name=$1 cond=$2
	shift 2
	if eval "$cond"; then result "$name" pass "$*"; else result "$name" fail "$*"; fi
}
# has LINE WANT: every key=value of WANT is in LINE (and WANT is not empty).
has() {
	local w
	[ -n "$2" ] || return 1
	for w in $2; do
		case " $1 " in
		*" $w "*) ;;
		*) return 1 ;;
		esac
	done
}
# settle CMD...: retry CMD for up to 10 s.
settle() {
	local i=0
	while [ $i -lt 50 ]; do
		"$@" && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}
# socks PID FILTER: the newest (highest descriptor) TCP socket of PID whose
# line holds FILTER, as the kernel says.
socks() { timeout 20 probe socks "$1" 2>&1 | grep -- "$2" | tail -1; }
count() { timeout 20 probe socks "$1" 2>/dev/null | grep -c -- "$2"; }
more_than() { [ "$(count "$1" "$2")" -gt "$3" ]; }
# more PID: one more connection from a probe client (SIGUSR1); waits for it.
more() {
	local n
	n=$(count "$1" "peer=127.0.0.1:7100")
	kill -USR1 "$1"
	settle more_than "$1" "peer=127.0.0.1:7100" "$n"
}
# sock_check NAME PID FILTER WANT WHAT (verdict's eval sees these locals,
# not sock_check's positional parameters)
sock_check() {
	local line want=$4
	line=$(socks "$2" "$3")
	verdict "$1" 'has "$line" "$want"' "$5: want $want; kernel says: ${line:-no such socket of PID $2}"
}
# field OUTPUT NAME: the C driver's line NAME (test/c/sockets.c, accept.c).
field() { echo "$1" | grep "^$2 " | head -1; }

kernel_defaults="ka=0 idle=7200 intvl=75 cnt=9 ut=0"
jit=$(cat /proc/sys/net/core/bpf_jit_enable 2>/dev/null || echo none)
result info/build info "$(cat /etc/ka-build)"
result info/system info "$(uname -srm); busybox $(busybox | head -1 | cut -d' ' -f2); $(/lib/aarch64-linux-gnu/libc.so.6 | head -1); uptime $(cut -d' ' -f1 /proc/uptime) s; bpf_jit_enable=$jit bpf_jit_harden=$(cat /proc/sys/net/core/bpf_jit_harden 2>/dev/null) (1: the arm64 JIT compiles every BPF program; 0: the interpreter)"

# (1) The preload in a dynamic C program, without and with LD_PRELOAD.
lib=/usr/lib/aarch64-linux-gnu/libkeepalive.so  # the packages' preload name
tuned="ka=1 idle=10 intvl=5 cnt=3 ut=3000"
o=$(timeout 60 sockets 2>&1)
rc=$?
verdict preload/sockets/control '[ $rc = 0 ] && has "$(field "$o" inet_stream)" "$kernel_defaults" && has "$(field "$o" inet6_stream)" "$kernel_defaults"' \
	"sockets without LD_PRELOAD or settings (exit $rc): $(field "$o" inet_stream); $(field "$o" inet6_stream)"
o=$(KEEPIDLE=10 KEEPINTVL=5 KEEPCNT=3 KEEPUSERTIMEOUT=3 timeout 60 sockets 2>&1)
rc=$?
verdict preload/sockets/env-only '[ $rc = 0 ] && has "$(field "$o" inet_stream)" "$kernel_defaults"' \
	"the settings without the library change nothing (exit $rc): $(field "$o" inet_stream)"
o=$(LD_PRELOAD=$lib KEEPIDLE=10 KEEPINTVL=5 KEEPCNT=3 KEEPUSERTIMEOUT=3 timeout 60 sockets 2>&1)
rc=$?
for k in inet_stream inet6_stream inet6_stream_nonblock_cloexec; do
	verdict "preload/sockets/$k" '[ $rc = 0 ] && has "$(field "$o" $k)" "$tuned"' "LD_PRELOAD=$lib (exit $rc): $(field "$o" $k)"
done
verdict preload/sockets/unix-untouched 'has "$(field "$o" unix_stream)" "ka=0"' "$(field "$o" unix_stream)"
# The packages' line: the loader expands $LIB to lib/aarch64-linux-gnu here.
o=$(LD_PRELOAD='/usr/$LIB/libkeepalive.so' KEEPIDLE=10 KEEPINTVL=5 KEEPCNT=3 KEEPUSERTIMEOUT=3 timeout 60 sockets 2>&1)
rc=$?
verdict preload/sockets/dollar-lib '[ $rc = 0 ] && has "$(field "$o" inet_stream)" "$tuned"' "LD_PRELOAD='/usr/\$LIB/libkeepalive.so' (exit $rc): $(field "$o" inet_stream)"
o=$(timeout 60 accept raw 2>&1)
rc=$?
verdict preload/accept/control '[ $rc = 0 ] && has "$(field "$o" accepted)" "$kernel_defaults"' "accept raw without LD_PRELOAD (exit $rc): $(field "$o" accepted)"
o=$(LD_PRELOAD=$lib KEEPIDLE=10 KEEPINTVL=5 KEEPCNT=3 KEEPUSERTIMEOUT=3 timeout 60 accept raw 2>&1)
rc=$?
verdict preload/accept '[ $rc = 0 ] && has "$(field "$o" accepted)" "$tuned"' "accept raw (a raw-syscall listener) under LD_PRELOAD (exit $rc): $(field "$o" accepted)"
# The command finds the library where the packages put it (no --lib).
o=$(timeout 60 keepalive --idle 10 --interval 5 --count 3 --user-timeout 3 -- sockets 2>&1)
rc=$?
verdict preload/command '[ $rc = 0 ] && has "$(field "$o" inet_stream)" "$tuned"' "keepalive --idle 10 ... -- sockets (exit $rc): $(field "$o" inet_stream)"
o=$(timeout 60 keepalive check 2>&1)
rc=$?
verdict preload/check '[ $rc = 0 ]' "keepalive check (exit $rc): $o"
# From the packages: the LD_PRELOAD line and the settings of the shipped
# systemd drop-in, as systemd would set them.
dropin=/usr/share/libkeepalive/systemd-keepalive.conf
if [ -e /usr/lib/aarch64-linux-gnu/libkeepalive.so.1 ] && [ -e $dropin ]; then
	line=$(sed -n 's/^Environment=LD_PRELOAD=//p' $dropin)
	settings=$(sed -n 's/^Environment=\(KEEP.*\)/\1/p' $dropin)
	o=$(env LD_PRELOAD="$line" $settings timeout 60 sockets 2>&1)
	rc=$?
	verdict preload/package-dropin '[ $rc = 0 ] && has "$(field "$o" inet_stream)" "ka=1 idle=60 intvl=10 cnt=3 ut=90000"' \
		"the drop-in's LD_PRELOAD=$line $settings (exit $rc): $(field "$o" inet_stream)"
else
	result preload/package-dropin skip "SKIPPED LOUDLY: not from the packages (give ARM64_DEBS) ($(cat /etc/ka-build)): no drop-in to read"
fi

# (2) The cgroup mode: a cgroup named as systemd names a service, a static
# Go client inside, one outside, a server inside for accepted connections.
mkdir -p /sys/fs/cgroup /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
cg=/sys/fs/cgroup/system.slice/legacy.service
mkdir -p $cg
verdict cgroup/made '[ -e $cg/cgroup.procs ]' "cgroup v2 at /sys/fs/cgroup, $cg"
probe server 127.0.0.1:7100 > /tmp/sink.log 2>&1 &
sink=$!
settle sh -c 'netstat -tln | grep -q 127.0.0.1:7100'
sh -c "echo \$\$ > $cg/cgroup.procs && exec probe client 127.0.0.1:7100" > /tmp/in.log 2>&1 &
in=$!
probe client 127.0.0.1:7100 > /tmp/out.log 2>&1 &
out=$!
sh -c "echo \$\$ > $cg/cgroup.procs && exec probe server 127.0.0.1:7102" > /tmp/srv.log 2>&1 &
srv=$!
settle sh -c 'netstat -tln | grep -q 127.0.0.1:7102'
settle more_than $in "peer=127.0.0.1:7100" 0
settle more_than $out "peer=127.0.0.1:7100" 0
verdict cgroup/placed 'grep -qx "0::/system.slice/legacy.service" /proc/$in/cgroup && grep -qx "0::/" /proc/$out/cgroup' \
	"inside: $(cat /proc/$in/cgroup), outside: $(cat /proc/$out/cgroup)"
sock_check cgroup/inside/control $in "peer=127.0.0.1:7100" "$kernel_defaults" "static Go client in legacy.service before attach"
# accepted PORT: one more connection to the server in the cgroup, from
# this shell's cgroup (the root, never attached), held by a probe client.
accepted() {
	local n
	n=$(count $srv "local=127.0.0.1:7102 peer=127")
	probe client 127.0.0.1:7102 > /dev/null 2>&1 &
	settle more_than $srv "local=127.0.0.1:7102 peer=127" "$n"
}
accepted
sock_check cgroup/accepted/control $srv "local=127.0.0.1:7102 peer=127" "$kernel_defaults" "accepted by a static Go server in legacy.service before attach"
# The JIT: with bpf_jit_kallsyms on, every JIT-compiled program is a
# bpf_prog_* symbol in /proc/kallsyms; the interpreter's programs are not.
echo 1 > /proc/sys/net/core/bpf_jit_kallsyms 2>/dev/null
before=$(grep -c ' bpf_prog_.*\[bpf\]' /proc/kallsyms)
configured="ka=1 idle=60 intvl=10 cnt=3 ut=90000"
o=$(timeout 60 keepalive cgroup attach --idle 60 --interval 10 --count 3 --user-timeout 90 $cg 2>&1)
rc=$?
verdict cgroup/attach/exit '[ $rc = 0 ]' "keepalive cgroup attach --idle 60 --interval 10 --count 3 --user-timeout 90 $cg: $o"
after=$(grep -c ' bpf_prog_.*\[bpf\]' /proc/kallsyms)
syms=$(grep ' bpf_prog_.*\[bpf\]' /proc/kallsyms | awk '{print $3}' | tr '\n' ' ' | cut -c1-300)
if [ "$jit" = 1 ]; then
	verdict cgroup/jit '[ "$after" -gt "$before" ]' "bpf_jit_enable=1: JIT-compiled programs in /proc/kallsyms before attach $before, after $after: $syms"
else
	result cgroup/jit info "bpf_jit_enable=$jit: the programs run in the interpreter (kallsyms before $before, after $after)"
fi
more $in
sock_check cgroup/inside $in "peer=127.0.0.1:7100" "$configured" "static Go client in legacy.service, a new connection after attach"
more $out
sock_check cgroup/outside $out "peer=127.0.0.1:7100" "$kernel_defaults" "static Go client outside the cgroup, a new connection after attach"
accepted
sock_check cgroup/accepted $srv "local=127.0.0.1:7102 peer=127" "$configured" "accepted by a static Go server in legacy.service after attach"
o=$(timeout 60 keepalive cgroup status 2>&1)
rc=$?
verdict cgroup/status '[ $rc = 0 ] && echo "$o" | grep -q "legacy.service"' "keepalive cgroup status (exit $rc): $o"
# Its CONFIGURED counter (the program's own map): the two connections made
# in the cgroup since attach, the client's and the accepted one, as the
# kernel said above; the outside client's is not counted.
n=$(echo "$o" | awk '$1 ~ /legacy\.service$/ {print $8}')
verdict cgroup/status/configured '[ "$n" = 2 ]' "want CONFIGURED 2 (one connection made, one accepted in legacy.service); status says ${n:-no row}"
pins=$(find /sys/fs/bpf/keepalive 2>/dev/null | tr '\n' ' ')
verdict cgroup/pinned '[ -n "$pins" ]' "pins: $pins"
o=$(timeout 60 keepalive cgroup detach $cg 2>&1)
rc=$?
verdict cgroup/detach/exit '[ $rc = 0 ]' "keepalive cgroup detach $cg: $o"
more $in
sock_check cgroup/detach $in "peer=127.0.0.1:7100" "$kernel_defaults" "static Go client in legacy.service, a new connection after detach"
left=$(find /sys/fs/bpf/keepalive -type f 2>/dev/null | tr '\n' ' ')
verdict cgroup/detach/pins '[ -z "$left" ]' "pins left after detach: ${left:-none}"
kill $in $out $srv $sink 2>/dev/null
result done info -
sync
poweroff -f
