#!/bin/bash
# The checks inside a guest (test/systems), run from the 9p share by
# guest-run.service under the guest's own systemd, which powers the guest
# off afterwards. /share/phase says which boot of the disk this is: 1 runs
# every check and enables the reboot units; 2 (the same disk booted again)
# checks them. Each result is one line of /share/results-PHASE.tsv:
#   NAME<TAB>pass|fail|skip|info<TAB>DETAIL
# Every check reads what it judges back from the kernel: getsockopt on a
# pidfd_getfd duplicate (ka-probe socks), ss's timers, never a line of ours.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
share=/share
phase=$(cat $share/phase 2>/dev/null || echo 1)
out=$share/results-$phase.tsv
: > "$out"
units=/etc/systemd/system
data=/usr/share/libkeepalive
# The settings of the shipped drop-ins, as ka-probe socks prints them.
configured="ka=1 idle=60 intvl=10 cnt=3 ut=90000"
kernel="ka=0 idle=7200 intvl=75 cnt=9 ut=0"

result() { # NAME pass|fail|skip|info DETAIL...
	local name=$1 verdict=$2
	shift 2
	printf '%s\t%s\t%s\n' "$name" "$verdict" "$(echo "$*" | tr '\t\n' '  ' | cut -c1-600)" >> "$out"
	echo "guest-check: $verdict $name: $*"
}
# verdict NAME CONDITION DETAIL: pass when CONDITION (a command) succeeds.
verdict() {
	local name=$1 cond=$2
	shift 2
	if eval "$cond"; then result "$name" pass "$*"; else result "$name" fail "$*"; fi
}

mainpid() { systemctl show -p MainPID --value "$1"; }
# socks PID FILTER: the last TCP socket of PID whose line holds FILTER.
socks() { ka-probe socks "$1" 2>&1 | grep -- "$2" | tail -1; }
# has LINE WANT: every key=value of WANT is in LINE.
has() {
	local w
	for w in $2; do
		[[ " $1 " == *" $w "* ]] || return 1
	done
}
# sock_check NAME PID FILTER WANT WHAT: the newest socket matching FILTER.
sock_check() {
	local name=$1 pid=$2 filter=$3 want=$4 what=$5 line
	settle conn_of "$pid" "$filter"
	line=$(socks "$pid" "$filter")
	verdict "$name" 'has "$line" "$want"' "$what: want $want; kernel says: ${line:-no such socket of PID $pid}"
}
# settle CMD...: retry CMD for up to 10 s (a unit's first connection).
settle() {
	local i
	for i in $(seq 50); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}
# ka_secs SS: the keepalive timer of an ss -o line, in whole seconds.
ka_secs() {
	echo "$1" | sed -n 's/.*timer:(keepalive,\([0-9.]*\)\(ms\|sec\|min\),.*/\1 \2/p' |
		awk '{v=$1; if ($2=="min") v*=60; else if ($2=="ms" && $1 !~ /\./) v/=1000; printf "%d", v}'
}
conn_of() { [ -n "$(socks "$1" "$2")" ]; }
# fresh UNIT: (re)start UNIT and wait for its connection to 127.0.0.1:7100.
fresh() {
	systemctl restart "$1" || return 1
	settle conn_of "$(mainpid "$1")" "peer=127.0.0.1:7100"
}
# more UNIT: one more connection from a ka-probe client; waits for it.
more() {
	local pid n
	pid=$(mainpid "$1")
	n=$(ka-probe socks "$pid" | grep -c "peer=127.0.0.1:7100")
	systemctl kill -s USR1 "$1"
	settle more_than "echo $pid" "peer=127.0.0.1:7100" "$n"
}
count() { [ "${1:-0}" = 0 ] && echo 0 && return; ka-probe socks "$1" | grep -c -- "$2"; }
# connect GETPID PORT: a connection from this script's own cgroup (never
# attached) to 127.0.0.1:PORT, held open in the background; waits until the
# server (its PID printed by the command GETPID) has accepted it.
connect() {
	local filter="local=127.0.0.1:$2 peer=127" n
	n=$(count "$($1)" "$filter")
	python3 -c 'import socket,sys,time; s=socket.create_connection(("127.0.0.1", int(sys.argv[1]))); time.sleep(600)' "$2" &
	settle more_than "$1" "$filter" "$n"
}
more_than() { [ "$(count "$($1)" "$2")" -gt "$3" ]; }
dropin() { # UNIT FILE [SECTION]: the shipped drop-in FILE on UNIT
	mkdir -p "$units/$1.d"
	if [ -n "${3:-}" ]; then
		sed "s/^\[Service\]/[$3]/" "$data/$2" > "$units/$1.d/$2"
	else
		cp "$data/$2" "$units/$1.d/$2"
	fi
	systemctl daemon-reload
}
undropin() { rm -rf "$units/$1.d"; systemctl daemon-reload; }
attach() { keepalive cgroup attach --idle 60 --interval 10 --count 3 --user-timeout 90 "$@" 2>&1; }
install_units() {
	cp /share/probe /usr/local/bin/ka-probe
	cp /share/peer.py /usr/local/bin/ka-peer.py
	[ -e /share/client32 ] && cp /share/client32 /usr/local/bin/client32
	cp /share/units/* $units/
	mv $units/web-front.service "$units/web\\x2dfront.service"
	systemctl daemon-reload
	systemctl start ka-sink.service
	settle sh -c 'ss -Htln | grep -q 127.0.0.1:7100'
}

systemd_version=$(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
result info/system info "$(. /etc/os-release; echo "$PRETTY_NAME") kernel $(uname -r) systemd $systemd_version"

phase1() {
	# The package, as a user installs it.
	local o
	local rc
	# The packages of build/dist (libkeepalive1, the library; keepalive,
	# the command, the examples and the units), together.
	o=$(dpkg -i /share/debs/*.deb 2>&1)
	rc=$?
	verdict package/dpkg-install '[ $rc = 0 ] && [ -x /usr/bin/keepalive ] && [ -e /usr/lib/x86_64-linux-gnu/libkeepalive.so ]' "$o"
	local version
	version=$(dpkg-query -W -f '${Version}' keepalive)
	o=$(keepalive --version 2>&1)
	verdict package/version '[ -n "$version" ] && [[ $o == *"$version"* ]]' "package $version: $o"
	o=$(keepalive check 2>&1)
	rc=$?
	verdict package/check '[ $rc = 0 ]' "$o"
	install_units

	# The preload drop-in: a server, a client, a socket-activated service,
	# each first without it (the control).
	local pid line
	systemctl start ka-pyserver && settle sh -c 'ss -Htln | grep -q 127.0.0.1:7001'
	connect "mainpid ka-pyserver" 7001
	sock_check preload/server/control "$(mainpid ka-pyserver)" "local=127.0.0.1:7001 peer=127" "$kernel" "accepted by python3 without the drop-in"
	dropin ka-pyserver.service systemd-keepalive.conf
	systemctl restart ka-pyserver && settle sh -c 'ss -Htln | grep -q 127.0.0.1:7001'
	connect "mainpid ka-pyserver" 7001
	pid=$(mainpid ka-pyserver)
	sock_check preload/server "$pid" "local=127.0.0.1:7001 peer=127" "$configured" "accepted by python3 under the drop-in"
	# keepalive status and ss say the same of that connection.
	local st ss secs
	ss=$(ss -Htino state established '( sport = :7001 )' | tr '\n' ' ')
	secs=$(echo "$ss" | sed -n 's/.*timer:(keepalive,\([0-9.]*\)\(ms\|sec\|min\),.*/\1 \2/p' | awk '{v=$1; if ($2=="min") v*=60; else if ($2=="ms" && $1 !~ /\./) v/=1000; printf "%d", v}')
	verdict preload/server/ss-timer '[ -n "$secs" ] && [ "$secs" -ge 40 ] && [ "$secs" -le 60 ]' "ss: a keepalive timer of at most idle 60 s: ${secs:-none} s from: $ss"
	st=$(keepalive status "$pid" 2>&1 | grep "ESTAB  *127.0.0.1:7001 ")
	verdict preload/server/status-agrees-with-ss '[[ $st =~ \ on\ +60s\ +10s\ +3\ +90000ms\ +keepalive, ]] && [ -n "$secs" ]' "keepalive status $pid: $st; ss: $ss"

	systemctl start ka-pyclient
	settle conn_of "$(mainpid ka-pyclient)" "peer=127.0.0.1:7100"
	sock_check preload/client/control "$(mainpid ka-pyclient)" "peer=127.0.0.1:7100" "$kernel" "python3 client without the drop-in"
	dropin ka-pyclient.service systemd-keepalive.conf
	fresh ka-pyclient
	sock_check preload/client "$(mainpid ka-pyclient)" "peer=127.0.0.1:7100" "$configured" "python3 client under the drop-in"

	# A 32-bit daemon (i386, beside the 64-bit ones): the same drop-in, its
	# one LD_PRELOAD=/usr/$LIB/libkeepalive.so line, gives it keepalive
	# through libkeepalive1:i386, installed beside libkeepalive1:amd64.
	if [ -x /usr/local/bin/client32 ] && [ -e /usr/lib/i386-linux-gnu/libkeepalive.so ]; then
		systemctl start legacy32
		settle conn_of "$(mainpid legacy32)" "peer=127.0.0.1:7100"
		sock_check preload/i386/control "$(mainpid legacy32)" "peer=127.0.0.1:7100" "$kernel" "a 32-bit client without the drop-in"
		dropin legacy32.service systemd-keepalive.conf
		fresh legacy32
		local class
		class=$(python3 -c 'import sys; print({1: "ELF32", 2: "ELF64"}.get(open(sys.argv[1], "rb").read(5)[4]))' /usr/local/bin/client32)
		verdict preload/i386/elf32 '[ "$class" = ELF32 ]' "the client is $class"
		sock_check preload/i386 "$(mainpid legacy32)" "peer=127.0.0.1:7100" "$configured" \
			"a 32-bit client ($class) under the drop-in's LD_PRELOAD=/usr/\$LIB line"
		systemctl stop legacy32
	else
		result preload/i386 fail "no 32-bit client or no libkeepalive1:i386 in this guest: $(ls /usr/local/bin/client32 /usr/lib/i386-linux-gnu/libkeepalive.so 2>&1 | tr '\n' ' ')"
	fi

	systemctl start ka-pysock.socket
	connect "mainpid ka-pysock" 7003
	settle conn_of "$(mainpid ka-pysock)" "local=127.0.0.1:7003 peer=127"
	sock_check preload/socket-activated/control "$(mainpid ka-pysock)" "local=127.0.0.1:7003 peer=127" "$kernel" "accepted by a socket-activated python3 without the drop-in"
	systemctl stop ka-pysock.service
	dropin ka-pysock.service systemd-keepalive.conf
	connect "mainpid ka-pysock" 7003
	settle conn_of "$(mainpid ka-pysock)" "local=127.0.0.1:7003 peer=127"
	sock_check preload/socket-activated "$(mainpid ka-pysock)" "local=127.0.0.1:7003 peer=127" "$configured" "accepted on systemd's listener by python3 under the drop-in"

	# A real daemon from the suite's own archive: memcached (it turns
	# SO_KEEPALIVE on itself, with the kernel's timers).
	local mc
	mcpid() { ss -Htlnp 'sport = :11211' | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1; }
	if systemctl restart memcached && settle sh -c 'ss -Htln | grep -q :11211'; then
		connect mcpid 11211
		mc=$(mcpid)
		sock_check daemon/memcached/control "$mc" "local=127.0.0.1:11211 peer=127" "idle=7200 intvl=75 cnt=9 ut=0" \
			"memcached $(dpkg-query -W -f '${Version}' memcached) without the drop-in"
		dropin memcached.service systemd-keepalive.conf
		systemctl restart memcached && settle sh -c 'ss -Htln | grep -q :11211'
		connect mcpid 11211
		mc=$(mcpid)
		sock_check daemon/memcached "$mc" "local=127.0.0.1:11211 peer=127" "$configured" "memcached under the drop-in"
	else
		result daemon/memcached fail "memcached does not start: $(systemctl status memcached 2>&1 | tail -5)"
	fi

	# keepalive cgroup attach and detach by unit name, on running services.
	local u o
	for u in legacy.service ka@tty1.service; do
		fresh "$u"
		pid=$(mainpid "$u")
		local want=$configured ctl=$kernel what="static Go client, Go's keepalive off"
		if [ "$u" = ka@tty1.service ]; then
			ctl="ka=1 idle=15 intvl=15 cnt=9 ut=0"
			want="ka=1 idle=15 intvl=15 cnt=9 ut=90000"
			what="static Go client with Go's own 15 s keepalive: Go's wins, the user timeout applies"
		fi
		sock_check "cgroup/attach/$u/control" "$pid" "peer=127.0.0.1:7100" "$ctl" "before attach"
		o=$(attach "$u")
		rc=$?
		verdict "cgroup/attach/$u/exit" '[ $rc = 0 ]' "keepalive cgroup attach ... $u: $o"
		more "$u"
		sock_check "cgroup/attach/$u" "$pid" "peer=127.0.0.1:7100" "$want" "$what, after attach"
		o=$(keepalive cgroup status "$u" 2>&1)
		rc=$?
		verdict "cgroup/status/$u" '[ $rc = 0 ] && [[ $o == *attached* ]]' "$o"
		if [ "$u" = ka@tty1.service ]; then
			o=$(attach --force "$u")
			more "$u"
			sock_check "cgroup/attach/$u/force" "$pid" "peer=127.0.0.1:7100" "$configured" "Go's own keepalive with --force: $o"
		fi
		o=$(keepalive cgroup detach "$u" 2>&1)
		rc=$?
		verdict "cgroup/detach/$u/exit" '[ $rc = 0 ]' "keepalive cgroup detach $u: $o"
		more "$u"
		sock_check "cgroup/detach/$u" "$pid" "peer=127.0.0.1:7100" "$ctl" "a new connection after detach"
	done
	# keepalive apply on a running service: the connection it holds now gets
	# the settings, without a restart; one it makes afterwards does not
	# (no --attach), which is the control.
	u=legacy.service
	fresh "$u"
	pid=$(mainpid "$u")
	sock_check "apply/$u/control" "$pid" "peer=127.0.0.1:7100" "$kernel" "before apply"
	o=$(keepalive apply --idle 60 --interval 10 --count 3 --user-timeout 90 "$u" 2>&1)
	rc=$?
	verdict "apply/$u/exit" '[ $rc = 0 ]' "keepalive apply ... $u: $o"
	sock_check "apply/$u" "$pid" "peer=127.0.0.1:7100" "$configured" "the connection held before the apply"
	verdict "apply/$u/not-restarted" '[ "$(mainpid "$u")" = "$pid" ]' "MainPID $pid before, $(mainpid "$u") after"
	more "$u"
	sock_check "apply/$u/new" "$pid" "peer=127.0.0.1:7100" "$kernel" "a connection made after a plain apply"
	# A server unit's accepted connections, unit name with systemd's \x2d.
	u='web\x2dfront.service'
	systemctl start "$u" && settle sh -c 'ss -Htln | grep -q 127.0.0.1:7102'
	pid=$(mainpid "$u")
	connect "mainpid $u" 7102
	sock_check "cgroup/attach/web-front/control" "$pid" "local=127.0.0.1:7102 peer=127" "$kernel" "accepted by a static Go server before attach"
	o=$(attach "$u")
	rc=$?
	verdict "cgroup/attach/web-front/exit" '[ $rc = 0 ]' "keepalive cgroup attach ... $u: $o"
	connect "mainpid $u" 7102
	sock_check "cgroup/attach/web-front" "$pid" "local=127.0.0.1:7102 peer=127" "$configured" "accepted by a static Go server in $u after attach"
	o=$(keepalive cgroup detach "$u" 2>&1)
	rc=$?
	verdict "cgroup/detach/web-front/exit" '[ $rc = 0 ]' "keepalive cgroup detach $u: $o"
	connect "mainpid $u" 7102
	sock_check "cgroup/detach/web-front" "$pid" "local=127.0.0.1:7102 peer=127" "$kernel" "accepted after detach"

	# A program that turned keepalive on itself before connect (idle 100):
	# left alone where bpf_getsockopt(SO_KEEPALIVE) answers (6.1 and
	# later), overwritten to the operator's values on 5.10.
	u=ownka.service
	fresh "$u"
	o=$(attach "$u")
	more "$u"
	local major minor
	IFS=. read -r major minor _ <<< "$(uname -r)"
	local counts st
	if [ "$major" -gt 6 ] || { [ "$major" = 6 ] && [ "$minor" -ge 1 ]; }; then
		sock_check cgroup/own-keepalive/left-alone "$(mainpid $u)" "peer=127.0.0.1:7100" "ka=1 idle=100 intvl=75 cnt=9" \
			"kernel $(uname -r), python3 with keepalive idle 100 of its own before connect, in $u attached: $o"
		counts="configured=0 left-alone=1 unanswered=0"
	else
		sock_check cgroup/own-keepalive/overwritten-before-6.1 "$(mainpid $u)" "peer=127.0.0.1:7100" "$configured" \
			"kernel $(uname -r) cannot answer bpf_getsockopt(SO_KEEPALIVE): python3's own idle 100 set before connect is overwritten, in $u attached: $o"
		verdict cgroup/own-keepalive/attach-note '[[ $o == *"note: "*6.1* ]]' "attach on kernel $(uname -r) says what it cannot tell: $o"
		counts="configured=1 left-alone=0 unanswered=1"
	fi
	# keepalive status's counters (the program's own map) against what the
	# kernel said of that one connection above.
	o=$(keepalive cgroup status "$u" 2>&1)
	st=$(echo "$o" | awk '$1 ~ /ownka.service$/ {print "configured=" $8, "left-alone=" $9, "unanswered=" $12}')
	verdict cgroup/own-keepalive/status '[ "$st" = "$counts" ]' "want $counts; keepalive cgroup status $u: $o"
	keepalive cgroup detach "$u" >/dev/null 2>&1
	systemctl stop "$u"

	# The ExecStartPre= drop-in, through a start, a restart and a stop.
	fresh cgpre.service
	sock_check cgroup/execstartpre/control "$(mainpid cgpre)" "peer=127.0.0.1:7100" "$kernel" "without the drop-in"
	dropin cgpre.service systemd-keepalive-cgroup.conf
	if fresh cgpre.service; then
		sock_check cgroup/execstartpre/start "$(mainpid cgpre)" "peer=127.0.0.1:7100" "$configured" "after start"
		pid=$(mainpid cgpre)
		fresh cgpre.service
		verdict cgroup/execstartpre/restart/new-process '[ "$(mainpid cgpre)" != "$pid" ]' "MainPID $pid, then $(mainpid cgpre)"
		sock_check cgroup/execstartpre/restart "$(mainpid cgpre)" "peer=127.0.0.1:7100" "$configured" "after restart"
	else
		result cgroup/execstartpre/start fail "cgpre.service does not start under the drop-in: $(systemctl status cgpre 2>&1 | tail -6)"
	fi
	systemctl stop cgpre.service
	o=$(systemctl is-failed cgpre.service)
	verdict cgroup/execstartpre/stop '[ "$o" = inactive ]' "after stop: $o; $(journalctl -u cgpre -n 3 --no-pager 2>&1)"
	o=$(ls /sys/fs/bpf/keepalive/attached/ 2>&1 | grep -i cgpre)
	verdict cgroup/execstartpre/stop/unpinned '[ -z "$o" ]' "pins left after stop: ${o:-none}"

	# The same drop-in under [Socket] on a .socket unit.
	systemctl start cgsock.socket
	connect "mainpid cgsock" 7104
	settle conn_of "$(mainpid cgsock)" "local=127.0.0.1:7104 peer=127"
	sock_check cgroup/socket-unit/control "$(mainpid cgsock)" "local=127.0.0.1:7104 peer=127" "$kernel" "accepted without the drop-in"
	systemctl stop cgsock.socket cgsock.service
	dropin cgsock.socket systemd-keepalive-cgroup.conf Socket
	if systemctl start cgsock.socket; then
		connect "mainpid cgsock" 7104
		settle conn_of "$(mainpid cgsock)" "local=127.0.0.1:7104 peer=127"
		sock_check cgroup/socket-unit "$(mainpid cgsock)" "local=127.0.0.1:7104 peer=127" "$configured" "accepted on a listener of cgsock.socket under the drop-in"
	else
		result cgroup/socket-unit fail "cgsock.socket does not start under the drop-in: $(systemctl status cgsock.socket 2>&1 | tail -6)"
	fi

	# systemd's BPFProgram= from keepalive-load@ (systemd 249 or newer).
	# keepalive-load@.service is the package's own (/usr/lib/systemd/system).
	fresh bpfprog.service
	sock_check cgroup/bpfprogram/control "$(mainpid bpfprog)" "peer=127.0.0.1:7100" "$kernel" "without the drop-in"
	dropin bpfprog.service systemd-keepalive-bpfprogram.conf
	if [ "${systemd_version:-0}" -ge 249 ]; then
		fresh bpfprog.service
		sock_check cgroup/bpfprogram "$(mainpid bpfprog)" "peer=127.0.0.1:7100" "$configured" \
			"BPFProgram= from keepalive-load@legacy: $(systemctl is-active keepalive-load@legacy)"
	else
		result cgroup/bpfprogram skip "systemd $systemd_version has no BPFProgram= (249)"
		# Issue 15 item 3: the load unit should fail here, saying why,
		# rather than look active while the service runs without keepalive.
		systemctl restart bpfprog.service
		o=$(systemctl is-active keepalive-load@legacy)
		local why
		why=$(journalctl -u keepalive-load@legacy --no-pager 2>&1 | grep -m1 "ignores BPFProgram=")
		verdict cgroup/bpfprogram/refused-before-249 '[ "$o" != active ] && [[ $why == *249* ]]' \
			"keepalive-load@legacy on systemd $systemd_version: $o; it says: ${why:-nothing about BPFProgram=}"
	fi
	systemctl stop bpfprog.service

	deadpeer
	container
	dest

	# The reboot: enabled units, the drop-in on one, and the package's
	# keepalive-cgroup@.service on a slice of its own with a service in it,
	# its settings from /etc/keepalive.conf (written now: the preload
	# checks above ran without it); phase 2 reads them.
	printf 'KEEPIDLE=60\nKEEPINTVL=10\nKEEPCNT=3\nKEEPUSERTIMEOUT=90\n' > /etc/keepalive.conf
	systemctl enable keepalive-cgroup@ka-boot.slice.service reboot-slice.service 2>/dev/null
	mkdir -p "$units/reboot.service.d"
	cp "$data/systemd-keepalive-cgroup.conf" "$units/reboot.service.d/"
	systemctl daemon-reload
	systemctl enable reboot.service reboot-plain.service ka-sink.service 2>/dev/null
	o=$(systemctl is-enabled reboot.service reboot-plain.service | tr '\n' ' ')
	result reboot/enabled info "$o"
}

# veth NS HOSTIF NSIF NET: a network namespace NS joined to this one by a
# veth pair, NET.1 on HOSTIF here and NET.2 on NSIF there, both up.
veth() {
	ip netns add "$1"
	ip link add "$2" type veth peer name "$3" netns "$1"
	ip addr add "$4.1/24" dev "$2"
	ip link set "$2" up
	ip -n "$1" addr add "$4.2/24" dev "$3"
	ip -n "$1" link set "$3" up
	ip -n "$1" link set lo up
}

# A dead peer across a veth pair: the peer's address goes away (no FIN, no
# RST), and the client blocked in recv() must fail within
# idle + interval x count + 1 s (1 + 1 x 2 + 1), for the preload
# (ka-deadpre, python3) and the cgroup mode (ka-deadcg, a static Go client),
# each beside a control without either that is still waiting after 7 s.
deadpeer() {
	veth kapeer kac0 kas0 10.99.0
	local mac
	mac=$(ip -n kapeer -o link show kas0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	ip neigh replace 10.99.0.2 lladdr "$mac" dev kac0 nud permanent
	systemd-run --unit=ka-peer ip netns exec kapeer /usr/local/bin/ka-probe server 10.99.0.2:7200 >/dev/null 2>&1
	mkdir -p /run/ka
	sed 's/^Environment=KEEPIDLE=.*/Environment=KEEPIDLE=1 KEEPINTVL=1 KEEPCNT=2 KEEPUSERTIMEOUT=0/' \
		"$data/systemd-keepalive.conf" > /tmp/fast-preload.conf
	# Without the detach at stop, so that the dead peer's count can be
	# read after the client gave up (and the unit ended); detached below.
	sed -e 's/--idle 60 --interval 10 --count 3 --user-timeout 90/--idle 1 --interval 1 --count 2/' -e '/^ExecStopPost=/d' \
		"$data/systemd-keepalive-cgroup.conf" > /tmp/fast-cgroup.conf
	local round u t0 f now ok
	for round in control keepalive; do
		rm -f /run/ka/dead*
		if [ $round = keepalive ]; then
			mkdir -p "$units/ka-deadpre.service.d" "$units/ka-deadcg.service.d"
			cp /tmp/fast-preload.conf "$units/ka-deadpre.service.d/"
			cp /tmp/fast-cgroup.conf "$units/ka-deadcg.service.d/"
			systemctl daemon-reload
		fi
		ip -n kapeer addr replace 10.99.0.2/24 dev kas0
		settle sh -c 'ip netns exec kapeer ss -Htln | grep -q 10.99.0.2:7200'
		systemctl start ka-deadpre ka-deadcg
		settle test -e /run/ka/deadpre.connected
		settle test -e /run/ka/deadcg.connected
		sleep 0.5
		ip -n kapeer addr del 10.99.0.2/24 dev kas0
		t0=$(date +%s.%N)
		for i in $(seq 70); do
			[ -e /run/ka/deadpre ] && [ -e /run/ka/deadcg ] && break
			sleep 0.1
		done
		now=$(date +%s.%N)
		for u in deadpre deadcg; do
			local name=deadpeer/preload
			[ $u = deadcg ] && name=deadpeer/cgroup
			if [ -e /run/ka/$u ]; then
				f=$(cat /run/ka/$u)
				local el
				el=$(echo "$f $t0" | sed 's/failed=//' | awk '{printf "%.2f", $1 - $NF}')
				if [ $round = control ]; then
					result $name/control fail "failed without keepalive after $el s: $f"
				else
					verdict $name '[[ $f == *"timed out"* ]] && awk "BEGIN{exit !($el <= 4.0)}"' "ETIMEDOUT within 4 s wanted: after $el s: $f"
				fi
			else
				if [ $round = control ]; then
					result $name/control pass "still waiting $(echo "$now $t0" | awk '{printf "%.1f", $1-$2}') s after the peer vanished"
				else
					result $name fail "still waiting $(echo "$now $t0" | awk '{printf "%.1f", $1-$2}') s after the peer vanished; $(systemctl status ka-$u 2>&1 | tail -3)"
				fi
			fi
		done
		systemctl stop ka-deadpre ka-deadcg
		if [ $round = keepalive ]; then
			# The dead peer, counted by the kernel's program (TIMED-OUT),
			# read back by status --json and held against the wire: one.
			local j to
			j=$(keepalive cgroup status --json ka-deadcg.service 2>&1)
			to=$(echo "$j" | python3 -c 'import json,sys; a=json.load(sys.stdin)["attachments"]; print(a[0]["timed_out"] if a else "none")' 2>&1)
			verdict deadpeer/cgroup/timed-out '[ "$to" = 1 ] && [ -e /run/ka/deadcg ]' \
				"status --json timed_out on Linux $(uname -r) after the client's ETIMEDOUT: $to (want 1)"
			keepalive cgroup detach ka-deadcg.service >/dev/null 2>&1
		fi
	done
	systemctl stop ka-peer
	ip netns del kapeer
}

# Rules by destination (issue 22): /etc/keepalive.conf holds a default (its
# plain lines) and a rule for one destination, 127.0.0.2:7100 (ka-sink2);
# ka-dest (python3) connects there and to 127.0.0.1:7100 (ka-sink), which no
# rule takes. (a) Under the preload drop-in the default is the drop-in's
# Environment= (the environment over the file's plain lines) and the rule's
# KEEPIDLE and KEEPINTVL go over it; (b) under `keepalive cgroup attach
# UNIT`, with no options (so the file), the default is the file's plain
# lines, the rule's over them. Read from the kernel (ka-probe socks, and
# ss's timers for the preload), beside the same unit before the drop-in and
# before the attach (the controls), and the rule in cgroup status with its
# counters. The file goes away at the end (the reboot writes its own).
dest() {
	local conf=/etc/keepalive.conf rule="to 127.0.0.2 port 7100 KEEPIDLE=30 KEEPINTVL=5"
	local filedef="ka=1 idle=120 intvl=20 cnt=4 ut=200000"
	local prerule="ka=1 idle=30 intvl=5 cnt=3 ut=90000" cgrule="ka=1 idle=30 intvl=5 cnt=4 ut=200000"
	local u=ka-dest.service pid o rc l1 l2 n1 n2
	printf '%s\n' '# the default: every connection no rule takes' KEEPIDLE=120 KEEPINTVL=20 KEEPCNT=4 KEEPUSERTIMEOUT=200 \
		'# one destination of its own' "$rule" > $conf
	systemctl start ka-sink2 && settle sh -c 'ss -Htln | grep -q 127.0.0.2:7100'
	# both PID: PID holds a connection to each destination.
	both() { conn_of "$1" "peer=127.0.0.1:7100" && conn_of "$1" "peer=127.0.0.2:7100"; }
	# pair NAME PID WANT WHAT: one check of both destinations' newest
	# connections (the controls).
	pair() {
		local want=$3
		settle both "$2"
		l1=$(socks "$2" "peer=127.0.0.1:7100")
		l2=$(socks "$2" "peer=127.0.0.2:7100")
		verdict "$1" 'has "$l1" "$want" && has "$l2" "$want"' "$4: want $want on both; kernel says: 127.0.0.1:7100: ${l1:-none}; 127.0.0.2:7100: ${l2:-none}"
	}

	# (a) The preload drop-in.
	systemctl restart "$u"
	pair dest/preload/control "$(mainpid $u)" "$kernel" "python3 without the drop-in, the rule in $conf"
	dropin "$u" systemd-keepalive.conf
	systemctl restart "$u"
	pid=$(mainpid $u)
	settle both "$pid"
	sock_check dest/preload/rule "$pid" "peer=127.0.0.2:7100" "$prerule" \
		"python3 under the drop-in, to 127.0.0.2:7100: line 7 ($rule) over the drop-in's environment"
	sock_check dest/preload/default "$pid" "peer=127.0.0.1:7100" "$configured" \
		"python3 under the drop-in, to 127.0.0.1:7100 (no rule): the default, the drop-in's environment over the file's plain lines"
	# ss's keepalive timers: counting down from 30 s on the rule's
	# connection, from 60 s on the other.
	local ss1 ss2 t1 t2
	ss1=$(ss -Htnop state established '( dst 127.0.0.1:7100 )' | grep "pid=$pid," | tail -1)
	ss2=$(ss -Htnop state established '( dst 127.0.0.2:7100 )' | grep "pid=$pid," | tail -1)
	t1=$(ka_secs "$ss1")
	t2=$(ka_secs "$ss2")
	verdict dest/preload/ss-timer '[ -n "$t1" ] && [ -n "$t2" ] && [ "$t2" -le 30 ] && [ "$t1" -gt 30 ] && [ "$t1" -le 60 ]' \
		"ss: keepalive timer to 127.0.0.2:7100 ${t2:-none} s (want at most 30), to 127.0.0.1:7100 ${t1:-none} s (want 31 to 60): $ss2 / $ss1"
	undropin "$u"

	# (b) keepalive cgroup attach by unit name, on the running unit: its
	# connections from before are the control; SIGUSR1 makes new ones.
	systemctl restart "$u"
	pid=$(mainpid $u)
	pair dest/cgroup/control "$pid" "$kernel" "python3 without the drop-in, before attach"
	n1=$(count "$pid" "peer=127.0.0.1:7100")
	n2=$(count "$pid" "peer=127.0.0.2:7100")
	o=$(keepalive cgroup attach "$u" 2>&1)
	rc=$?
	verdict dest/cgroup/attach/exit '[ $rc = 0 ]' "keepalive cgroup attach $u (no options: $conf) on kernel $(uname -r): $o"
	systemctl kill -s USR1 "$u"
	settle more_than "echo $pid" "peer=127.0.0.1:7100" "$n1"
	settle more_than "echo $pid" "peer=127.0.0.2:7100" "$n2"
	sock_check dest/cgroup/rule "$pid" "peer=127.0.0.2:7100" "$cgrule" \
		"to 127.0.0.2:7100 after attach on kernel $(uname -r): line 7 ($rule) over the file's default"
	sock_check dest/cgroup/default "$pid" "peer=127.0.0.1:7100" "$filedef" \
		"to 127.0.0.1:7100 (no rule) after attach on kernel $(uname -r): the file's plain lines"
	# cgroup status lists the rule (the table), each of those two
	# connections counted once, under its rule or the default (--json).
	o=$(keepalive cgroup status "$u" 2>&1)
	local j
	j=$(keepalive cgroup status --json "$u" 2>&1 | python3 -c '
import json, sys
a = json.load(sys.stdin)["attachments"][0]
r = a["rules"] or [{}]
print(len(a["rules"] or []), r[0].get("line"), r[0].get("rule"), "configured=%s" % r[0].get("counters", {}).get("configured"),
      "default-configured=%s" % (a["default"] or {}).get("configured"), "unanswered=%s" % r[0].get("counters", {}).get("unanswered"))' 2>&1)
	verdict dest/cgroup/status 'echo "$o" | grep -Eq "^7 +to 127\.0\.0\.2/32 port 7100 KEEPIDLE=30 KEEPINTVL=5 +1 " &&
		[[ $j == "1 7 to 127.0.0.2/32 port 7100 KEEPIDLE=30 KEEPINTVL=5 configured=1 default-configured=1 "* ]]' \
		"want line 7's rule with CONFIGURED 1, and 1 for the default; --json: $j; keepalive cgroup status $u: $o"
	keepalive cgroup detach "$u" >/dev/null 2>&1
	systemctl stop "$u" ka-sink2
	rm -f $conf
}

# A systemd-nspawn container (machinectl's, in machine.slice) in a network
# namespace of its own, its program static (no preload could reach it), the
# peer outside: before `keepalive cgroup attach machine.slice` its
# connection has no keepalive (the control), after it the settings; read
# from the kernel by ka-probe socks on the container's process.
container() {
	if ! command -v systemd-nspawn >/dev/null; then
		result container/nspawn skip "no systemd-nspawn here (package systemd-container)"
		return
	fi
	local root=/var/lib/machines/kac round pid line cg o
	mkdir -p $root/usr/lib $root/etc $root/bin
	printf 'ID=kac\nNAME=kac\n' > $root/usr/lib/os-release
	cp /usr/local/bin/ka-probe $root/bin/ka-probe
	veth kans kn0 kn1 10.98.0
	systemd-run --unit=ka-nspeer /usr/local/bin/ka-probe server 10.98.0.1:7300 >/dev/null 2>&1
	settle sh -c 'ss -Htln | grep -q 10.98.0.1:7300'
	for round in control attached; do
		if [ $round = attached ]; then
			o=$(attach machine.slice)
			verdict container/attach '[[ $o == *"attached to /sys/fs/cgroup/"*machine.slice* ]]' "attach machine.slice: $o"
		fi
		systemd-run --unit=ka-nspawn-$round systemd-nspawn -q -D $root -M kac \
			--network-namespace-path=/run/netns/kans /bin/ka-probe client 10.98.0.1:7300 >/dev/null 2>&1
		settle sh -c '[ -n "$(machinectl show kac -p Leader --value 2>/dev/null)" ]'
		pid=$(machinectl show kac -p Leader --value 2>/dev/null)
		if [ -z "$pid" ]; then
			result container/nspawn/$round fail "no container kac started: $(systemctl status ka-nspawn-$round 2>&1 | tail -5)"
			systemctl stop ka-nspawn-$round 2>/dev/null
			continue
		fi
		settle conn_of "$pid" "peer=10.98.0.1:7300"
		line=$(socks "$pid" "peer=10.98.0.1:7300")
		cg=$(cut -d: -f3 "/proc/$pid/cgroup" | tail -1)
		if [ $round = control ]; then
			verdict container/nspawn/control 'has "$line" "ka=0" && [[ $cg == /machine.slice/* ]]' \
				"the container's client before any attach, in $cg: ${line:-no connection}"
		else
			verdict container/nspawn 'has "$line" "$configured"' \
				"a static program in a systemd-nspawn container (cgroup $cg, its own network namespace, the peer outside) after attach machine.slice: want $configured; kernel says: ${line:-no connection}"
		fi
		systemctl stop ka-nspawn-$round
		settle sh -c '! machinectl show kac >/dev/null 2>&1'
	done
	keepalive cgroup detach machine.slice >/dev/null 2>&1
	systemctl stop ka-nspeer
	ip netns del kans
}

phase2() {
	local o pid
	settle sh -c 'ss -Htln | grep -q 127.0.0.1:7100'
	# This script starts beside the boot's other units: wait (60 s at most)
	# until reboot.service's start job, ExecStartPre= included, is over.
	for i in $(seq 300); do
		[ "$(systemctl is-active reboot.service)" = activating ] || break
		sleep 0.2
	done
	o=$(systemctl is-active reboot.service)
	verdict reboot/active '[ "$o" = active ]' "reboot.service after the second boot: $o"
	pid=$(mainpid reboot.service)
	settle conn_of "$pid" "peer=127.0.0.1:7100"
	sock_check reboot/keepalive "$pid" "peer=127.0.0.1:7100" "$configured" "enabled with the ExecStartPre= drop-in, after the second boot, no manual step"
	o=$(systemctl is-active keepalive-cgroup@ka-boot.slice.service)
	verdict reboot/cgroup-slice/active '[ "$o" = active ]' "keepalive-cgroup@ka-boot.slice.service after the second boot: $o"
	for i in $(seq 300); do
		[ "$(systemctl is-active reboot-slice.service)" = activating ] || break
		sleep 0.2
	done
	pid=$(mainpid reboot-slice.service)
	settle conn_of "$pid" "peer=127.0.0.1:7100"
	sock_check reboot/cgroup-slice "$pid" "peer=127.0.0.1:7100" "$configured" \
		"a service in ka-boot.slice, keepalive-cgroup@ka-boot.slice enabled with /etc/keepalive.conf, after the second boot"
	pid=$(mainpid reboot-plain.service)
	settle conn_of "$pid" "peer=127.0.0.1:7100"
	sock_check reboot/control "$pid" "peer=127.0.0.1:7100" "$kernel" "enabled without the drop-in"
}

phase$phase
journalctl -b --no-pager > "$share/journal-$phase.txt" 2>&1
result done info "phase $phase"
sync
