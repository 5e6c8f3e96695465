package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/libkeepalive/libkeepalive/shim"
)

// statusAll lists every process the caller may inspect that holds
// established TCP connections.

func statusAll(stdout, stderr io.Writer, timers, asJSON bool, config string) int {
	h, b, ok := scanByRule("keepalive status", config, timers, stderr)
	if !ok {
		return 1
	}
	if asJSON {
		return writeJSON(stdout, stderr, hostReportOf(h, b))
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "PID\tCOMMAND\tTCP\tKEEPALIVE\tIDLE\tAT-RISK")
	for _, p := range h.Listed {
		idle := "-"
		switch {
		case p.Keepalive > 0 && p.MinIdle > 0:
			idle = strconv.Itoa(p.MinIdle) + "s"
		case p.Keepalive > 0:
			idle = "?"
		}
		risk := "-"
		switch {
		case p.AtRisk() > 0:
			risk = fmt.Sprintf("AT-RISK:%d", p.AtRisk())
		case p.Unknown > 0:
			risk = fmt.Sprintf("?:%d", p.Unknown)
		}
		fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%s\t%s\n", p.PID, shim.Quote(p.Command), p.TCP, p.Keepalive, idle, risk)
	}
	w.Flush()
	conns, risky, riskyConns, inferred := h.Totals()
	fmt.Fprintf(stdout, "%d process(es) hold %d established TCP connection(s); %d connection(s) in %d process(es) have no keepalive (AT-RISK)",
		len(h.Listed), conns, riskyConns, risky)
	nskip := 0
	var why []string
	for r, n := range h.Skipped {
		nskip += n
		why = append(why, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(why)
	if nskip > 0 {
		fmt.Fprintf(stdout, "; %d process(es) skipped: %s", nskip, strings.Join(why, ", "))
	} else {
		fmt.Fprint(stdout, "; none skipped")
	}
	fmt.Fprintln(stdout)
	if riskyConns > 0 {
		fmt.Fprintln(stdout, "(keepalive apply PID... gives the connections AT-RISK keepalive now, without a restart)")
	}
	if inferred > 0 {
		fmt.Fprintf(stdout, "(for %d process(es) keepalive was read from the kernel's timers, not from their descriptors; "+
			"?:N counts connections whose keepalive timer is hidden by a retransmission, and IDLE is then ?)\n", inferred)
	}
	printByRule(stdout, b)
	return 0
}
