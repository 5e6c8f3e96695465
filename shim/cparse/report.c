#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "dest.h"
#include "file.h"
#include "line.h"
#include "report.h"

/* put_quoted is shim.Quote of s[:k]. */
static void put_quoted(struct ka_line *m, const char *s, size_t k)
{
	static const char hex[] = "0123456789abcdef";
	ka_put(m, "\"");
	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[4] = {'\\', (char)c, 0, 0};
		if (c == '"' || c == '\\')
			ka_put_n(m, e, 2);
		else if (c >= 0x20 && c < 0x7f)
			ka_put_n(m, (const char *)&s[i], 1);
		else {
			char x[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
			ka_put_n(m, x, 4);
		}
	}
	ka_put(m, "\"");
}

/* put_value_n is shim.showValue of v[:k]. */
static void put_value_n(struct ka_line *m, const char *v, size_t k)
{
	put_quoted(m, v, k > KA_MAX_SHOWN ? KA_MAX_SHOWN : k);
	if (k > KA_MAX_SHOWN)
		ka_put(m, "...");
}

static void put_value(struct ka_line *m, const char *v) { put_value_n(m, v, strlen(v)); }

/* put_path is shim.ShowPath. */
static void put_path(struct ka_line *m, const char *p)
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
		ka_put_n(m, p, k);
	else
		put_quoted(m, p, k);
	if (cut)
		ka_put(m, "...");
}

/* start begins a message in buf: the prefix, and the file and line it is
 * about (src NULL: the environment). */
static void start(struct ka_line *m, char *buf, const struct ka_source *src, int line)
{
	ka_line_start(m, buf, KA_MSG_MAX);
	ka_put(m, KA_PREFIX);
	if (src == NULL)
		return;
	put_path(m, src->path);
	if (line > 0) {
		ka_put(m, ":");
		ka_put_num(m, line);
	}
}

/* value_msg words a refused value; in a rule (dest), the rule is what is
 * ignored, and KEEPALIVE takes on and off only. */
static void value_msg(struct ka_line *m, int var, const char *v, size_t k, int why, int dest)
{
	const struct ka_rule *r = &ka_rules[var];
	ka_put(m, r->var);
	ka_put(m, "=");
	put_value_n(m, v, k);
	ka_put(m, " is ");
	ka_put(m, ka_reasons[why]);
	ka_put(m, ": want ");
	ka_put(m, dest && var == KA_VAR_KEEPALIVE ? KA_MSG_DEST_SWITCH : r->want);
	ka_put(m, "; ");
	ka_put(m, dest ? KA_MSG_DEST_INSTEAD : r->instead);
}

/* dest_msg words why a rule line is ignored, as shim.parseDest does. */
static void dest_msg(struct ka_line *m, const struct ka_dest_error *e)
{
	switch (e->why) {
	case KA_DEST_NO_NET:
		ka_put(m, " " KA_MSG_DEST_NO_NET);
		break;
	case KA_DEST_NO_VALUES:
		ka_put(m, " " KA_MSG_DEST_NO_VALUES);
		break;
	case KA_DEST_BAD_NET:
		ka_put(m, " " KA_MSG_DEST_BAD_NET_0);
		put_value_n(m, e->tok, e->tlen);
		ka_put(m, KA_MSG_DEST_BAD_NET_1);
		break;
	case KA_DEST_HOST_BITS:
		ka_put(m, " " KA_MSG_DEST_HOST_BITS_0);
		put_value_n(m, e->tok, e->tlen);
		ka_put(m, KA_MSG_DEST_HOST_BITS_1);
		break;
	case KA_DEST_BAD_PORT:
		ka_put(m, " " KA_MSG_DEST_BAD_PORT_0);
		put_value_n(m, e->tok, e->tlen);
		ka_put(m, KA_MSG_DEST_BAD_PORT_1);
		break;
	case KA_DEST_BAD_WORD:
		ka_put(m, " " KA_MSG_DEST_BAD_WORD_0);
		put_value_n(m, e->tok, e->tlen);
		ka_put(m, KA_MSG_DEST_BAD_WORD_1);
		break;
	case KA_DEST_TWICE:
		ka_put(m, " " KA_MSG_DEST_TWICE_0);
		ka_put(m, ka_rules[e->var].var);
		ka_put(m, KA_MSG_DEST_TWICE_1);
		break;
	case KA_DEST_BAD_VALUE:
		ka_put(m, ": ");
		value_msg(m, e->var, e->tok, e->tlen, e->vwhy, 1);
		break;
	}
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
	struct ka_line t;
	ka_line_start(&t, num, cap);
	ka_put(&t, KA_ERRNO_WORD);
	ka_put_num(&t, e);
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

static const char *slot_name(int slot) { return slot < KA_NUM_VARS ? ka_rules[slot].var : KA_EXCLUDE_VAR; }

static int report_lines(const struct ka_source *src, ka_emit_fn emit, void *ctx)
{
	const char *text = src->text ? src->text : "", *end = text + (src->text ? src->n : 0);
	int last[KA_NUM_VARS + 1] = {0}, prev[KA_NUM_VARS + 1] = {0};
	struct ka_file_line l;
	int count = 0, no = 0, ndest = 0;
	/* Pass 1: the line each key's value comes from (the last one). */
	for (const char *p = text; p <= end; no++) {
		p = ka_file_line(p, end, &l);
		int slot = l.empty ? -1 : ka_file_key(&l);
		if (slot >= 0)
			last[slot] = no + 1;
	}
	struct ka_line m;
	char buf[KA_MSG_MAX];
	no = 0;
	for (const char *p = text; p <= end; no++) {
		p = ka_file_line(p, end, &l);
		if (l.empty)
			continue;
		if (ka_is_dest(l.text, l.len)) {
			struct ka_dest d;
			struct ka_dest_error e;
			int ok = ka_dest_parse(l.text, l.len, &d, &e);
			if (ok && ++ndest <= KA_DEST_MAX)
				continue;
			start(&m, buf, src, no + 1);
			if (ok) {
				ka_put(&m, " " KA_MSG_DEST_TOO_MANY_0);
				ka_put_num(&m, KA_DEST_MAX);
				ka_put(&m, KA_MSG_DEST_TOO_MANY_1);
			} else {
				dest_msg(&m, &e);
			}
			emit(ctx, buf);
			count++;
			continue;
		}
		int slot = ka_file_key(&l);
		if (slot < 0) {
			start(&m, buf, src, no + 1);
			ka_put(&m, " " KA_MSG_NOT_SETTING);
			emit(ctx, buf);
			count++;
			continue;
		}
		if (prev[slot]) {
			start(&m, buf, src, no + 1);
			ka_put(&m, " " KA_MSG_AGAIN_0);
			ka_put(&m, slot_name(slot));
			ka_put(&m, KA_MSG_AGAIN_1);
			ka_put_num(&m, prev[slot]);
			ka_put(&m, KA_MSG_AGAIN_2);
			emit(ctx, buf);
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
		start(&m, buf, src, no + 1);
		ka_put(&m, ": ");
		value_msg(&m, slot, v, l.vlen, why, 0);
		emit(ctx, buf);
		count++;
	}
	return count;
}

static int report_file(const struct ka_source *src, ka_emit_fn emit, void *ctx)
{
	struct ka_line m;
	char buf[KA_MSG_MAX];
	start(&m, buf, src, 0);
	ka_put(&m, " ");
	if (src->err == ENOENT) {
		if (!src->named)
			return 0;
		ka_put(&m, KA_MSG_MISSING);
	} else if (src->err) {
		char num[32];
		ka_put(&m, KA_MSG_CANNOT_READ_0);
		ka_put(&m, errno_words(src->err, num, sizeof num));
		ka_put(&m, KA_MSG_CANNOT_READ_1);
	} else if (src->kind) {
		ka_put(&m, KA_MSG_NOT_REGULAR_0);
		ka_put(&m, kind_words(src->kind));
		ka_put(&m, KA_MSG_NOT_REGULAR_1);
	} else if (src->n > KA_FILE_MAX) {
		ka_put(&m, KA_MSG_TOO_LONG);
	} else if (src->n && memchr(src->text, 0, src->n) != NULL) {
		ka_put(&m, KA_MSG_NUL);
	} else {
		return report_lines(src, emit, ctx);
	}
	emit(ctx, buf);
	return 1;
}

int ka_report(const struct ka_source *src, const char *(*env)(const char *name), ka_emit_fn emit, void *ctx)
{
	int count = src ? report_file(src, emit, ctx) : 0;
	struct ka_line m;
	char buf[KA_MSG_MAX];
	for (int i = 0; i < KA_NUM_VARS; i++) {
		const char *v = env(ka_rules[i].var);
		long long val;
		int why;
		if (v == NULL || *v == 0 || ka_parse_why(i, v, &val, &why) != KA_INVALID)
			continue;
		start(&m, buf, NULL, 0);
		value_msg(&m, i, v, strlen(v), why, 0);
		emit(ctx, buf);
		count++;
	}
	return count;
}
