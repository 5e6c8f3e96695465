#include <string.h>

#include "line.h"

void ka_line_start(struct ka_line *l, char *buf, size_t cap)
{
	l->buf = buf;
	l->cap = cap;
	l->n = 0;
	buf[0] = 0;
}

void ka_put_n(struct ka_line *l, const char *s, size_t k)
{
	if (k > l->cap - 1 - l->n)
		k = l->cap - 1 - l->n;
	memcpy(l->buf + l->n, s, k);
	l->n += k;
	l->buf[l->n] = 0;
}

void ka_put(struct ka_line *l, const char *s) { ka_put_n(l, s, strlen(s)); }

void ka_put_num(struct ka_line *l, long long v)
{
	char d[24];
	int i = sizeof d;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		d[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		d[--i] = '-';
	ka_put_n(l, d + i, sizeof d - (size_t)i);
}
