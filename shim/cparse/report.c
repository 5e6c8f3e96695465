#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "report.h"

struct msg {
	char buf[KA_MSG_MAX];
	size_t n;
};

static void put_n(struct msg *m, const char *s, size_t k)
{
	if (k > sizeof m->buf - 1 - m->n)
		k = sizeof m->buf - 1 - m->n;
	memcpy(m->buf + m->n, s, k);
	m->n += k;
	m->buf[m->n] = 0;
}

static void put(struct msg *m, const char *s) { put_n(m, s, strlen(s)); }

static void put_num(struct msg *m, long long v)
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
	put_n(m, d + i, sizeof d - (size_t)i);
}

/* put_quoted is shim.Quote of s[:k]. */
static void put_quoted(struct msg *m, const char *s, size_t k)
{
	static const char hex[] = "0123456789abcdef";
	put(m, "\"");
	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[4] = {'\\', (char)c, 0, 0};
		if (c == '"' || c == '\\')
			put_n(m, e, 2);
		else if (c >= 0x20 && c < 0x7f)
			put_n(m, (const char *)&s[i], 1);
		else {
			char x[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
			put_n(m, x, 4);
		}
	}
	put(m, "\"");
}

/* put_value is shim.showValue. */
static void put_value(struct msg *m, const char *v)
{
	size_t k = strlen(v);
	put_quoted(m, v, k > KA_MAX_SHOWN ? KA_MAX_SHOWN : k);
	if (k > KA_MAX_SHOWN)
		put(m, "...");
}

/* put_path is shim.ShowPath. */
static void put_path(struct msg *m, const char *p)
{
	size_t k = strlen(p);
	int cut = k > KA_MAX_PATH;
	if (cut)
		k = KA_MAX_PATH;
	int plain = 1;
	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
			plain = 0;
	}
	if (plain)
		put_n(m, p, k);
	else
		put_quoted(m, p, k);
	if (cut)
		put(m, "...");
}

static void start(struct msg *m, const struct ka_source *src, int line)
{
	m->n = 0;
	m->buf[0] = 0;
	put(m, KA_PREFIX);
	if (src == NULL)
		return;
	put_path(m, src->path);
	if (line > 0) {
		put(m, ":");
		put_num(m, line);
	}
}

static void value_msg(struct msg *m, int var, const char *v, int why)
{
	const struct ka_rule *r = &ka_rules[var];
	put(m, r->var);
	put(m, "=");
	put_value(m, v);
	put(m, " is ");
	put(m, ka_reasons[why]);
	put(m, ": want ");
	put(m, r->want);
	put(m, "; ");
	put(m, r->instead);
}

static const char *errno_words(int e, char *num, size_t cap)
{
	static const struct {
		int e;
		const char *words;
	} known[] = {KA_ERRNOS};
	for (unsigned i = 0; i < sizeof known / sizeof known[0]; i++)
		if (known[i].e == e)
			return known[i].words;
	struct msg t = {.n = 0};
	put(&t, KA_ERRNO_WORD);
	put_num(&t, e);
	strncpy(num, t.buf, cap - 1);
	num[cap - 1] = 0;
	return num;
}

static const char *kind_words(unsigned kind)
{
	static const struct {
		unsigned mode;
		const char *words;
	} kinds[] = {KA_FILE_KINDS};
	for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (kinds[i].mode == (kind & S_IFMT))
			return kinds[i].words;
	return KA_UNKNOWN_KIND;
}

static int blank(char c) { return c == ' ' || c == '\t'; }

/* One line of the file, as shim.ParseFile sees it. */
struct line {
	const char *key, *value; /* trimmed, not terminated */
	size_t klen, vlen;
	int has_eq, empty;
};

static const char *next_line(const char *p, const char *end, struct line *l)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *s = p, *e = nl ? nl : end;
	if (e > s && e[-1] == '\r')
		e--;
	while (s < e && blank(*s))
		s++;
	while (e > s && blank(e[-1]))
		e--;
	l->empty = s == e || *s == '#';
	const char *eq = l->empty ? NULL : memchr(s, '=', (size_t)(e - s));
	l->has_eq = eq != NULL;
	if (eq) {
		const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
		while (ke > ks && blank(ke[-1]))
			ke--;
		while (vs < ve && blank(*vs))
			vs++;
		l->key = ks, l->klen = (size_t)(ke - ks);
		l->value = vs, l->vlen = (size_t)(ve - vs);
	}
	return nl ? nl + 1 : end + 1;
}

/* key_slot: 0..KA_NUM_VARS-1 for a variable, KA_NUM_VARS for the exclude
 * list, -1 for anything else. */
static int key_slot(const struct line *l)
{
	if (!l->has_eq)
		return -1;
	for (int i = 0; i < KA_NUM_VARS; i++)
		if (strlen(ka_rules[i].var) == l->klen && memcmp(ka_rules[i].var, l->key, l->klen) == 0)
			return i;
	if (strlen(KA_EXCLUDE_VAR) == l->klen && memcmp(KA_EXCLUDE_VAR, l->key, l->klen) == 0)
		return KA_NUM_VARS;
	return -1;
}

static const char *slot_name(int slot) { return slot < KA_NUM_VARS ? ka_rules[slot].var : KA_EXCLUDE_VAR; }

static int report_lines(const struct ka_source *src, ka_emit_fn emit, void *ctx)
{
	const char *text = src->text ? src->text : "", *end = text + (src->text ? src->n : 0);
	int last[KA_NUM_VARS + 1] = {0}, prev[KA_NUM_VARS + 1] = {0};
	struct line l;
	int count = 0, no = 0;
	/* Pass 1: the line each key's value comes from (the last one). */
	for (const char *p = text; p <= end; no++) {
		p = next_line(p, end, &l);
		int slot = l.empty ? -1 : key_slot(&l);
		if (slot >= 0)
			last[slot] = no + 1;
	}
	struct msg m;
	no = 0;
	for (const char *p = text; p <= end; no++) {
		p = next_line(p, end, &l);
		if (l.empty)
			continue;
		int slot = key_slot(&l);
		if (slot < 0) {
			start(&m, src, no + 1);
			put(&m, " " KA_MSG_NOT_SETTING);
			emit(ctx, m.buf);
			count++;
			continue;
		}
		if (prev[slot]) {
			start(&m, src, no + 1);
			put(&m, " " KA_MSG_AGAIN_0);
			put(&m, slot_name(slot));
			put(&m, KA_MSG_AGAIN_1);
			put_num(&m, prev[slot]);
			put(&m, KA_MSG_AGAIN_2);
			emit(ctx, m.buf);
			count++;
		}
		prev[slot] = no + 1;
		if (slot == KA_NUM_VARS || last[slot] != no + 1)
			continue;
		char v[KA_FILE_MAX + 1];
		memcpy(v, l.value, l.vlen);
		v[l.vlen] = 0;
		long long val;
		int why;
		if (ka_parse_why(slot, v, &val, &why) != KA_INVALID)
			continue;
		start(&m, src, no + 1);
		put(&m, ": ");
		value_msg(&m, slot, v, why);
		emit(ctx, m.buf);
		count++;
	}
	return count;
}

static int report_file(const struct ka_source *src, ka_emit_fn emit, void *ctx)
{
	struct msg m;
	start(&m, src, 0);
	put(&m, " ");
	if (src->err == ENOENT) {
		if (!src->named)
			return 0;
		put(&m, KA_MSG_MISSING);
	} else if (src->err) {
		char num[32];
		put(&m, KA_MSG_CANNOT_READ_0);
		put(&m, errno_words(src->err, num, sizeof num));
		put(&m, KA_MSG_CANNOT_READ_1);
	} else if (src->kind) {
		put(&m, KA_MSG_NOT_REGULAR_0);
		put(&m, kind_words(src->kind));
		put(&m, KA_MSG_NOT_REGULAR_1);
	} else if (src->n > KA_FILE_MAX) {
		put(&m, KA_MSG_TOO_LONG);
	} else if (src->n && memchr(src->text, 0, src->n) != NULL) {
		put(&m, KA_MSG_NUL);
	} else {
		return report_lines(src, emit, ctx);
	}
	emit(ctx, m.buf);
	return 1;
}

int ka_report(const struct ka_source *src, const char *(*env)(const char *name), ka_emit_fn emit, void *ctx)
{
	int count = src ? report_file(src, emit, ctx) : 0;
	struct msg m;
	for (int i = 0; i < KA_NUM_VARS; i++) {
		const char *v = env(ka_rules[i].var);
		long long val;
		int why;
		if (v == NULL || *v == 0 || ka_parse_why(i, v, &val, &why) != KA_INVALID)
			continue;
		start(&m, NULL, 0);
		value_msg(&m, i, v, why);
		emit(ctx, m.buf);
		count++;
	}
	return count;
}
