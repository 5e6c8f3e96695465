#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "../shim/cparse/dest.h"
#include "../shim/cparse/line.h"
#include "preload.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

int ka_wants(int domain, int type, int protocol)
{
	if (domain != AF_INET && domain != AF_INET6)
		return 0;
	/* libkeepalive 0.3 tested type & SOCK_STREAM, which SOCK_RAW (3) and
	 * SOCK_SEQPACKET (5) pass too. */
	if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM)
		return 0;
	return protocol == 0 || protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP;
}

/* The debug lines' parts are at most this long. */
#define DEBUG_LINE_MAX 512

static const struct {
	int var;
	int level, name;
	const char *label;
} options[] = {
	{KA_VAR_KEEPIDLE, IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE"},
	{KA_VAR_KEEPINTVL, IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL"},
	{KA_VAR_KEEPCNT, IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT"},
	{KA_VAR_KEEPUSERTIMEOUT, IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT"},
};

/* Bits by descriptor, for the first KA_TRACKED descriptors (a higher one
 * is not tracked). A bit outlives its socket: each is cleared when the
 * library meets a new socket on the descriptor, and ka_keeps checks that
 * the descriptor is still a TCP socket with keepalive on before it keeps
 * anything. */
#define KA_TRACKED 65536
#define NUM_OPTIONS (sizeof options / sizeof options[0])

static void bit_set(unsigned char *m, int fd)
{
	if (fd >= 0 && fd < KA_TRACKED)
		__atomic_or_fetch(&m[fd / 8], (unsigned char)(1u << (fd % 8)), __ATOMIC_RELAXED);
}

static void bit_clear(unsigned char *m, int fd)
{
	if (fd >= 0 && fd < KA_TRACKED)
		__atomic_and_fetch(&m[fd / 8], (unsigned char)~(1u << (fd % 8)), __ATOMIC_RELAXED);
}

static int bit_get(const unsigned char *m, int fd)
{
	return fd >= 0 && fd < KA_TRACKED && (__atomic_load_n(&m[fd / 8], __ATOMIC_RELAXED) >> (fd % 8)) & 1;
}

/* configured: the library configured the socket, for KEEPALIVE=force.
 * opts, one bit per option (by index in options), holds one of two things,
 * as a process is forced or not for its whole life: under KEEPALIVE=force,
 * the options the library set on the socket, which force keeps (the
 * default's or a rule's); otherwise, under rules by destination, the
 * options the program set itself, which connect() leaves: it configures
 * the socket after the program's own calls, and they keep the last word
 * they have when the library configures at socket(). One table for both:
 * the library's bss costs every process it loads into (two tables, 32 KiB
 * more, made a spawn of /bin/true about 1% slower, measured side by side). */
static unsigned char configured[KA_TRACKED / 8];
static unsigned char opts[NUM_OPTIONS][KA_TRACKED / 8];

static void mark(int fd)
{
	bit_set(configured, fd);
}

static int marked(int fd)
{
	return bit_get(configured, fd);
}

/* say writes the debug line: only ever called with KEEPALIVE_DEBUG on, so
 * that the common path pays for no formatting. */
static void say(int fd, int domain, int protocol, const char *how, const struct ka_line *ok, const struct ka_line *refused)
{
	char buf[DEBUG_LINE_MAX];
	struct ka_line l;
	ka_line_start(&l, buf, sizeof buf);
	ka_put(&l, "libkeepalive: ");
	ka_put(&l, how);
	ka_put(&l, " fd ");
	ka_put_num(&l, fd);
	ka_put(&l, domain == AF_INET6 ? " AF_INET6" : " AF_INET");
	ka_put(&l, protocol == IPPROTO_MPTCP ? " mptcp:" : " tcp:");
	ka_put(&l, ok->buf);
	if (refused->n) {
		ka_put(&l, "; refused:");
		ka_put(&l, refused->buf);
	}
	ka_write_line(buf, 1);
}

static void note(struct ka_line *l, const char *label, int r, int v)
{
	ka_put(l, " ");
	ka_put(l, label);
	ka_put(l, r == 0 ? "=" : "(errno ");
	ka_put_num(l, r == 0 ? v : errno);
	if (r != 0)
		ka_put(l, ")");
}

/* apply sets the options; with ok and refused (KEEPALIVE_DEBUG) it also
 * notes what the kernel took and refused. It has no large locals: socket()
 * may run in a signal handler on a small alternate stack. */
static void apply(const struct ka_settings *s, int fd, struct ka_line *ok, struct ka_line *refused)
{
	int on = 1;
	int r = ka_setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
	if (ok)
		note(r == 0 ? ok : refused, "SO_KEEPALIVE", r, on);
	for (unsigned i = 0; i < NUM_OPTIONS; i++) {
		if (s->forced)
			bit_clear(opts[i], fd);
		if (s->cfg.state[options[i].var] != KA_OK)
			continue;
		/* An option the kernel refuses for this kind of socket (MPTCP and
		 * TCP_USER_TIMEOUT) is skipped; the others still apply. */
		int v = (int)s->cfg.value[options[i].var];
		r = ka_setsockopt(fd, options[i].level, options[i].name, &v, sizeof v);
		if (r == 0 && s->forced)
			bit_set(opts[i], fd);
		if (ok)
			note(r == 0 ? ok : refused, options[i].label, r, v);
	}
}

/* configure_debug holds the debug line's buffers, out of line so that the
 * common path's stack frame stays small. */
__attribute__((noinline)) static void configure_debug(const struct ka_settings *s, int fd, int domain, int protocol,
						       const char *how)
{
	char okb[DEBUG_LINE_MAX], refusedb[DEBUG_LINE_MAX];
	struct ka_line ok, refused;
	ka_line_start(&ok, okb, sizeof okb);
	ka_line_start(&refused, refusedb, sizeof refusedb);
	apply(s, fd, &ok, &refused);
	say(fd, domain, protocol, how, &ok, &refused);
}

/* kept_option: the index in options of an option force keeps, -1 for
 * SO_KEEPALIVE (which stays on), -2 for any other option. */
static int kept_option(int level, int name)
{
	if (level == SOL_SOCKET && name == SO_KEEPALIVE)
		return -1;
	if (level != IPPROTO_TCP)
		return -2;
	for (unsigned i = 0; i < sizeof options / sizeof options[0]; i++)
		if (options[i].name == name)
			return (int)i;
	return -2;
}

/* say_kept writes the debug line of a call force did not make; out of line,
 * so that the buffer weighs on no other setsockopt call. */
__attribute__((noinline)) static void say_kept(const struct ka_settings *s, int fd, int opt, const void *val,
						socklen_t len)
{
	char buf[DEBUG_LINE_MAX];
	struct ka_line l;
	ka_line_start(&l, buf, sizeof buf);
	ka_put(&l, "libkeepalive: setsockopt fd ");
	ka_put_num(&l, fd);
	ka_put(&l, " ");
	ka_put(&l, opt < 0 ? "SO_KEEPALIVE" : options[opt].label);
	ka_put(&l, "=");
	ka_put_num(&l, val && len >= (socklen_t)sizeof(int) ? *(const int *)val : -1);
	/* The value kept is the socket's: the default's, or its rule's. */
	int kept = 1;
	socklen_t n = sizeof kept;
	if (opt >= 0 && getsockopt(fd, options[opt].level, options[opt].name, &kept, &n) != 0)
		kept = -1;
	ka_put(&l, " not made: KEEPALIVE=force keeps ");
	ka_put(&l, opt < 0 ? "SO_KEEPALIVE" : ka_rules[options[opt].var].var);
	ka_put(&l, "=");
	ka_put_num(&l, kept);
	ka_write_line(buf, 1);
}

int ka_keeps(int fd, int level, int name, const void *val, socklen_t len)
{
	struct ka_settings scratch;
	const struct ka_settings *s = ka_get(&scratch);
	if (!s->forced || !marked(fd))
		return 0;
	int opt = kept_option(level, name);
	if (opt == -2 || (opt >= 0 && !bit_get(opts[opt], fd)))
		return 0;
	int saved = errno;
	/* Two questions: only a TCP or MPTCP socket has one of these protocols
	 * (they exist for AF_INET and AF_INET6 streams only), and keepalive is
	 * still on if the library's settings are. */
	int on = 0, protocol = 0;
	socklen_t n = sizeof protocol;
	int ours = getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &n) == 0 &&
		   (protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP);
	n = sizeof on;
	ours = ours && getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &n) == 0 && on;
	if (ours && s->debug)
		say_kept(s, fd, opt, val, len);
	errno = saved;
	return ours;
}

void ka_configure(const struct ka_settings *s, int fd, int domain, int protocol, const char *how)
{
	int saved = errno;
	mark(fd);
	if (s->debug)
		configure_debug(s, fd, domain, protocol, how);
	else
		apply(s, fd, NULL, NULL);
	errno = saved;
}

void ka_forget(int fd)
{
	bit_clear(configured, fd);
	for (unsigned i = 0; i < NUM_OPTIONS; i++)
		bit_clear(opts[i], fd);
}

void ka_owned(int fd, int level, int name)
{
	if (level != IPPROTO_TCP || fd < 0 || fd >= KA_TRACKED)
		return;
	int opt = kept_option(level, name);
	if (opt < 0)
		return;
	int saved = errno;
	struct ka_settings scratch;
	const struct ka_settings *s = ka_get(&scratch);
	if (s->ndest && !s->forced)
		bit_set(opts[opt], fd);
	errno = saved;
}

/* endpoint reads a socket address of family AF_INET or AF_INET6 that is at
 * least len bytes: its address and port. */
static int endpoint(const struct sockaddr *sa, socklen_t len, const unsigned char **addr, unsigned *port)
{
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		*addr = (const unsigned char *)&in->sin_addr, *port = ntohs(in->sin_port);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		*addr = in6->sin6_addr.s6_addr, *port = ntohs(in6->sin6_port);
		return AF_INET6;
	}
	return 0;
}

/* describe names the rule in the debug line: "connect, rule of line 3". */
static const char *describe(char *buf, size_t cap, const char *how, const struct ka_dest *d)
{
	struct ka_line l;
	ka_line_start(&l, buf, cap);
	ka_put(&l, how);
	if (d) {
		ka_put(&l, ", rule of line ");
		ka_put_num(&l, d->line);
	} else {
		ka_put(&l, ", no rule");
	}
	return buf;
}

/* route configures fd, a TCP socket to or from the far end addr with the
 * service port port, by the first rule that matches it, or by the default
 * settings when none does. A rule of KEEPALIVE=off leaves it alone. */
static void route(const struct ka_settings *s, int fd, int family, int protocol, const unsigned char *addr, unsigned port,
		  const char *how)
{
	int n = 0;
	const struct ka_dest *dests = ka_dests(&n), *d = NULL;
	if (dests == NULL)
		return; /* settings read by a racing first call, not yet published: left alone */
	for (int i = 0; i < n && !d; i++)
		if (ka_dest_matches(&dests[i], family, addr, port))
			d = &dests[i];
	struct ka_settings r = *s;
	if (d) {
		if (d->cfg.state[KA_VAR_KEEPALIVE] == KA_OK && d->cfg.value[KA_VAR_KEEPALIVE] == 0)
			return;
		for (int v = 0; v < KA_NUM_VARS; v++)
			if (d->cfg.state[v] == KA_OK)
				r.cfg.state[v] = KA_OK, r.cfg.value[v] = d->cfg.value[v];
	}
	/* What the program set itself stays, unless KEEPALIVE=force. */
	for (unsigned i = 0; i < NUM_OPTIONS && !s->forced; i++)
		if (bit_get(opts[i], fd))
			r.cfg.state[options[i].var] = KA_UNSET;
	char buf[48];
	ka_configure(&r, fd, family, protocol, s->debug ? describe(buf, sizeof buf, how, d) : how);
}

/* tcp_without_keepalive: is fd a TCP socket the library is to configure:
 * keepalive off, or on under KEEPALIVE=force (the program's own values
 * otherwise stay)? Its protocol (TCP or MPTCP) if so, else 0. */
static int tcp_without_keepalive(const struct ka_settings *s, int fd)
{
	int protocol = 0, on = 0;
	socklen_t n = sizeof protocol;
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &n) != 0 ||
	    (protocol != IPPROTO_TCP && protocol != IPPROTO_MPTCP))
		return 0;
	n = sizeof on;
	return getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &n) == 0 && (!on || s->forced) ? protocol : 0;
}

void ka_connected(const struct ka_settings *s, int fd, const struct sockaddr *addr, socklen_t len)
{
	const unsigned char *a;
	unsigned port;
	if (addr == NULL || len < (socklen_t)sizeof addr->sa_family)
		return;
	int family = endpoint(addr, len, &a, &port);
	if (family == 0)
		return;
	int saved = errno;
	int protocol = tcp_without_keepalive(s, fd);
	if (protocol)
		route(s, fd, family, protocol, a, port, "connect");
	errno = saved;
}

/* accepted_by_rule: a server's connection under rules. The far end is the
 * peer; the service port is ours. */
static void accepted_by_rule(const struct ka_settings *s, int fd)
{
	struct sockaddr_storage peer, self;
	socklen_t pn = sizeof peer, sn = sizeof self;
	const unsigned char *a, *unused;
	unsigned peer_port, port;
	if (getpeername(fd, (struct sockaddr *)&peer, &pn) != 0 || getsockname(fd, (struct sockaddr *)&self, &sn) != 0)
		return;
	int family = endpoint((struct sockaddr *)&peer, pn, &a, &peer_port);
	if (family == 0 || endpoint((struct sockaddr *)&self, sn, &unused, &port) == 0)
		return;
	int protocol = tcp_without_keepalive(s, fd);
	if (protocol)
		route(s, fd, family, protocol, a, port, "accept");
}

void ka_accepted(int listener, int fd, int family)
{
	if (family != -1 && family != AF_INET && family != AF_INET6)
		return;
	struct ka_settings scratch;
	const struct ka_settings *s = ka_get(&scratch);
	if (!s->enabled)
		return;
	int saved = errno;
	if (s->ndest) {
		ka_forget(fd);
		accepted_by_rule(s, fd);
		errno = saved;
		return;
	}
	int on = 0, domain = 0, type = 0, protocol = 0;
	socklen_t n = sizeof on;
	/* A listener that the shim (or the program) set up passes keepalive and
	 * its timers on to what it accepts: one getsockopt is the whole cost. */
	if (getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &n) == 0 && !on) {
		n = sizeof domain;
		getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &n);
		n = sizeof type;
		getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &n);
		n = sizeof protocol;
		getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &n);
		if (ka_wants(domain, type, protocol))
			ka_configure(s, fd, domain, protocol, "accept");
	} else if (on && marked(listener)) {
		/* It inherited the library's settings from its listener. */
		mark(fd);
		for (unsigned i = 0; i < NUM_OPTIONS && s->forced; i++)
			if (bit_get(opts[i], listener))
				bit_set(opts[i], fd);
			else
				bit_clear(opts[i], fd);
	}
	errno = saved;
}
