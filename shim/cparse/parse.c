#include <stdint.h>
#include <string.h>

#include "parse.h"

/* Go's (1<<63) and (1<<63-1), in uint64 as time.ParseDuration uses them. */
#define U63 ((uint64_t)1 << 63)
#define SATURATE ((long long)1 << 40)

static int equal_ascii_fold(const char *s, const char *word)
{
	for (; *s && *word; s++, word++) {
		char c = *s;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != *word)
			return 0;
	}
	return *s == 0 && *word == 0;
}

/* The parsers return KA_WHY_NONE with the value, or why they refuse it. */
static int parse_switch(const char *s, long long *v)
{
	static const char *const on[] = {"on", "yes", "true", "1"};
	static const char *const off[] = {"off", "no", "false", "0"};
	for (unsigned i = 0; i < 4; i++) {
		if (equal_ascii_fold(s, on[i])) {
			*v = 1;
			return KA_WHY_NONE;
		}
		if (equal_ascii_fold(s, off[i])) {
			*v = 0;
			return KA_WHY_NONE;
		}
	}
	return KA_WHY_WORD;
}

static int plain_number(const char *s, long long *v)
{
	long long x = 0;
	if (*s == 0)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		if (x < SATURATE)
			x = x * 10 + (*s - '0');
	}
	*v = x;
	return 1;
}

/* leading_int and leading_fraction and parse_go_duration are
 * time.ParseDuration of Go 1.26 (src/time/format.go), line for line. */
static const char *leading_int(const char *s, uint64_t *x, int *err)
{
	*x = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (*x > U63 / 10) {
			*err = 1;
			return s;
		}
		*x = *x * 10 + (uint64_t)(*s - '0');
		if (*x > U63) {
			*err = 1;
			return s;
		}
	}
	return s;
}

static const char *leading_fraction(const char *s, uint64_t *x, double *scale)
{
	int overflow = 0;
	*x = 0;
	*scale = 1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (overflow)
			continue;
		if (*x > (U63 - 1) / 10) {
			overflow = 1;
			continue;
		}
		uint64_t y = *x * 10 + (uint64_t)(*s - '0');
		if (y > U63) {
			overflow = 1;
			continue;
		}
		*x = y;
		*scale *= 10;
	}
	return s;
}

static uint64_t unit_of(const char *u, size_t n)
{
	static const struct {
		const char *name;
		uint64_t ns;
	} units[] = {
		{"ns", 1ULL},
		{"us", 1000ULL},
		{"\xc2\xb5s", 1000ULL}, /* U+00B5 micro sign */
		{"\xce\xbcs", 1000ULL}, /* U+03BC Greek mu */
		{"ms", 1000000ULL},
		{"s", 1000000000ULL},
		{"m", 60000000000ULL},
		{"h", 3600000000000ULL},
	};
	for (unsigned i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0)
			return units[i].ns;
	return 0;
}

/* parse_go_duration returns 0 on success with *out in nanoseconds. */
static int parse_go_duration(const char *s, int64_t *out)
{
	uint64_t d = 0;
	int neg = 0;
	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (*s == 0)
		return -1;
	while (*s) {
		uint64_t v, f = 0;
		double scale = 1;
		int err = 0;
		if (!(*s == '.' || (*s >= '0' && *s <= '9')))
			return -1;
		const char *p = s;
		s = leading_int(s, &v, &err);
		if (err)
			return -1;
		int pre = p != s;
		int post = 0;
		if (*s == '.') {
			s++;
			p = s;
			s = leading_fraction(s, &f, &scale);
			post = p != s;
		}
		if (!pre && !post)
			return -1;
		size_t i = 0;
		while (s[i] && !(s[i] == '.' || (s[i] >= '0' && s[i] <= '9')))
			i++;
		if (i == 0)
			return -1;
		uint64_t unit = unit_of(s, i);
		s += i;
		if (unit == 0)
			return -1;
		if (v > U63 / unit)
			return -1;
		v *= unit;
		if (f > 0) {
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > U63)
				return -1;
		}
		d += v;
		if (d > U63)
			return -1;
	}
	if (neg) {
		*out = (int64_t)(0 - d);
		return 0;
	}
	if (d > U63 - 1)
		return -1;
	*out = (int64_t)d;
	return 0;
}

static int in_range(long long v, const struct ka_rule *r, long long *out)
{
	if (v < r->min || v > r->max)
		return KA_WHY_RANGE;
	*out = v;
	return KA_WHY_NONE;
}

static int parse_duration(const char *s, int64_t unit, const struct ka_rule *r, long long *out)
{
	long long v;
	int64_t d;
	if (plain_number(s, &v)) {
		long long per_second = 1000000000LL / unit;
		if (v > r->max / per_second)
			return KA_WHY_RANGE;
		return in_range(v * per_second, r, out);
	}
	if (parse_go_duration(s, &d) != 0)
		return KA_WHY_SYNTAX;
	if (d < 0)
		return KA_WHY_RANGE;
	if (d % unit != 0)
		return KA_WHY_FRACTION;
	return in_range(d / unit, r, out);
}

int ka_parse_why(int var, const char *s, long long *out, int *why)
{
	const struct ka_rule *r = &ka_rules[var];
	long long v;
	*why = KA_WHY_NONE;
	if (s == NULL || *s == 0)
		return KA_UNSET;
	switch (r->kind) {
	case KA_KIND_SWITCH:
		*why = parse_switch(s, out);
		break;
	case KA_KIND_MODE:
		*why = parse_switch(s, out);
		if (*why != KA_WHY_NONE && equal_ascii_fold(s, "force")) {
			*out = KA_FORCE;
			*why = KA_WHY_NONE;
		}
		break;
	case KA_KIND_SECONDS:
		*why = parse_duration(s, 1000000000LL, r, out);
		break;
	case KA_KIND_MILLIS:
		*why = parse_duration(s, 1000000LL, r, out);
		break;
	case KA_KIND_COUNT:
		*why = plain_number(s, &v) ? in_range(v, r, out) : KA_WHY_NUMBER;
		break;
	default:
		*why = KA_WHY_SYNTAX;
	}
	return *why == KA_WHY_NONE ? KA_OK : KA_INVALID;
}

int ka_parse(int var, const char *s, long long *out)
{
	int why;
	return ka_parse_why(var, s, out, &why);
}
