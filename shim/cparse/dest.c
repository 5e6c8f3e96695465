#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "dest.h"

static int blank(char c) { return c == ' ' || c == '\t'; }

int ka_is_dest(const char *line, size_t n)
{
	size_t k = strlen(KA_DEST_KEYWORD);
	return n >= k && memcmp(line, KA_DEST_KEYWORD, k) == 0 && (n == k || blank(line[k]));
}

/* next_word finds the next word of [*p, end): 0 when there is none. */
static int next_word(const char **p, const char *end, const char **w, size_t *n)
{
	while (*p < end && blank(**p))
		(*p)++;
	if (*p == end)
		return 0;
	*w = *p;
	while (*p < end && !blank(**p))
		(*p)++;
	*n = (size_t)(*p - *w);
	return 1;
}

static int digits(const char *s, size_t n, long long *v)
{
	long long x = 0;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		if (x < (1LL << 40))
			x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return 1;
}

/* network is shim.parseNetwork: an address by inet_pton, a prefix length
 * of 1 to 3 digits; an IPv4-mapped network of 96 bits or more is the IPv4
 * one. */
static int network(const char *s, size_t n, struct ka_dest *d)
{
	char a[64];
	if (memchr(s, '%', n) != NULL)
		return 0;
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	if (alen >= sizeof a)
		return 0;
	memcpy(a, s, alen);
	a[alen] = 0;
	int max;
	memset(d->addr, 0, sizeof d->addr);
	if (inet_pton(AF_INET, a, d->addr) == 1)
		d->family = AF_INET, max = 32;
	else if (inet_pton(AF_INET6, a, d->addr) == 1)
		d->family = AF_INET6, max = 128;
	else
		return 0;
	d->bits = max;
	if (slash) {
		long long v;
		size_t blen = n - alen - 1;
		if (!digits(slash + 1, blen, &v) || v > max || blen > 3)
			return 0;
		d->bits = (int)v;
	}
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (d->family == AF_INET6 && d->bits >= 96 && memcmp(d->addr, mapped, 12) == 0) {
		memmove(d->addr, d->addr + 12, 4);
		memset(d->addr + 4, 0, 12);
		d->family = AF_INET, d->bits -= 96;
	}
	return 1;
}

static int host_bits(const struct ka_dest *d)
{
	int len = d->family == AF_INET ? 4 : 16;
	for (int i = 0; i < len; i++) {
		int keep = d->bits - 8 * i; /* bits of this byte in the prefix */
		unsigned char mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
		if (d->addr[i] & ~mask)
			return 1;
	}
	return 0;
}

/* ports is shim.parsePorts. */
static int ports(const char *s, size_t n, struct ka_dest *d)
{
	const char *dash = memchr(s, '-', n);
	size_t alen = dash ? (size_t)(dash - s) : n;
	const char *b = dash ? dash + 1 : s;
	size_t blen = dash ? n - alen - 1 : n;
	long long x, y;
	if (!digits(s, alen, &x) || !digits(b, blen, &y) || alen > 5 || blen > 5 || x < 1 || y > 65535 || x > y)
		return 0;
	d->port_lo = (unsigned)x, d->port_hi = (unsigned)y;
	return 1;
}

static int refuse(struct ka_dest_error *e, int why, const char *tok, size_t tlen)
{
	e->why = why, e->tok = tok, e->tlen = tlen;
	return 0;
}

int ka_dest_parse(const char *line, size_t n, struct ka_dest *d, struct ka_dest_error *e)
{
	static const int vars[KA_NUM_DEST_VARS] = KA_DEST_VARS;
	const char *p = line + strlen(KA_DEST_KEYWORD), *end = line + n, *w;
	size_t wn;
	memset(d, 0, sizeof *d);
	memset(e, 0, sizeof *e);
	if (!next_word(&p, end, &w, &wn) || memchr(w, '=', wn) != NULL)
		return refuse(e, KA_DEST_NO_NET, NULL, 0);
	if (wn == 3 && memcmp(w, "any", 3) == 0)
		d->family = 0;
	else if (!network(w, wn, d))
		return refuse(e, KA_DEST_BAD_NET, w, wn);
	else if (host_bits(d))
		return refuse(e, KA_DEST_HOST_BITS, w, wn);
	const char *mark = p;
	if (next_word(&p, end, &w, &wn) && wn == 4 && memcmp(w, "port", 4) == 0) {
		if (!next_word(&p, end, &w, &wn))
			return refuse(e, KA_DEST_BAD_PORT, "", 0);
		if (!ports(w, wn, d))
			return refuse(e, KA_DEST_BAD_PORT, w, wn);
	} else {
		p = mark;
	}
	/* The values, in the order of the words; then checked in the order of
	 * the variables, as Go's Load reports them. */
	const char *val[KA_NUM_DEST_VARS] = {0};
	size_t vlen[KA_NUM_DEST_VARS] = {0};
	int any = 0;
	while (next_word(&p, end, &w, &wn)) {
		const char *eq = memchr(w, '=', wn);
		int slot = -1;
		for (int i = 0; eq && i < KA_NUM_DEST_VARS; i++) {
			const char *name = ka_rules[vars[i]].var;
			if (strlen(name) == (size_t)(eq - w) && memcmp(name, w, (size_t)(eq - w)) == 0)
				slot = i;
		}
		if (slot < 0)
			return refuse(e, KA_DEST_BAD_WORD, w, wn);
		if (val[slot]) {
			e->var = vars[slot];
			return refuse(e, KA_DEST_TWICE, w, wn);
		}
		val[slot] = eq + 1, vlen[slot] = wn - (size_t)(eq + 1 - w);
		any = 1;
	}
	if (!any)
		return refuse(e, KA_DEST_NO_VALUES, NULL, 0);
	char v[KA_FILE_MAX + 1];
	for (int i = 0; i < KA_NUM_DEST_VARS; i++) {
		int var = vars[i];
		if (!val[i])
			continue;
		memcpy(v, val[i], vlen[i]);
		v[vlen[i]] = 0;
		int why;
		d->cfg.state[var] = ka_parse_why(var, v, &d->cfg.value[var], &why);
		if (d->cfg.state[var] == KA_OK && var == KA_VAR_KEEPALIVE && d->cfg.value[var] == KA_FORCE)
			d->cfg.state[var] = KA_INVALID, why = KA_WHY_WORD;
		if (d->cfg.state[var] == KA_INVALID) {
			e->var = var, e->vwhy = why;
			return refuse(e, KA_DEST_BAD_VALUE, val[i], vlen[i]);
		}
	}
	return 1;
}

int ka_dest_matches(const struct ka_dest *d, int family, const unsigned char *addr, unsigned port)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (family == AF_INET6 && memcmp(addr, mapped, 12) == 0)
		family = AF_INET, addr += 12;
	if (d->port_hi && (port < d->port_lo || port > d->port_hi))
		return 0;
	if (d->family == 0)
		return 1;
	if (d->family != family)
		return 0;
	int full = d->bits / 8, rest = d->bits % 8;
	if (memcmp(addr, d->addr, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((addr[full] ^ d->addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}
