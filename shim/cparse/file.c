#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dest.h"
#include "file.h"

int ka_file_read(const char *path, char *text, size_t cap, size_t *n, unsigned *kind)
{
	*n = 0;
	*kind = 0;
	int fd;
	do
		fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return errno;
	struct stat st;
	int err = 0;
	if (fstat(fd, &st) != 0)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		*kind = st.st_mode & S_IFMT;
	while (!err && !*kind && *n < cap) {
		ssize_t r = read(fd, text + *n, cap - *n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			err = errno;
		if (r <= 0)
			break;
		*n += (size_t)r;
	}
	close(fd);
	if (err || *kind)
		*n = 0;
	return err;
}

static int blank(char c) { return c == ' ' || c == '\t'; }

const char *ka_file_line(const char *p, const char *end, struct ka_file_line *l)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *s = p, *e = nl ? nl : end;
	if (e > s && e[-1] == '\r')
		e--;
	while (s < e && blank(*s))
		s++;
	while (e > s && blank(e[-1]))
		e--;
	l->text = s, l->len = (size_t)(e - s);
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

int ka_file_key(const struct ka_file_line *l)
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

void ka_file_parse(struct ka_file *f, const char *text, size_t n)
{
	for (int i = 0; i < KA_NUM_VARS; i++)
		f->value[i] = NULL;
	f->exclude = NULL;
	f->problems = 0;
	f->ndest = 0;
	f->buf[0] = 0;
	if (n > KA_FILE_MAX || memchr(text, 0, n) != NULL) {
		f->problems = 1; /* refused whole */
		return;
	}
	memcpy(f->buf, text, n);
	f->buf[n] = 0;
	const char *end = f->buf + n;
	struct ka_file_line l;
	for (const char *p = f->buf; p <= end;) {
		p = ka_file_line(p, end, &l);
		if (l.empty)
			continue;
		if (ka_is_dest(l.text, l.len)) {
			struct ka_dest d;
			struct ka_dest_error e;
			if (ka_dest_parse(l.text, l.len, &d, &e) && f->ndest < KA_DEST_MAX)
				f->ndest++;
			else
				f->problems++;
			continue;
		}
		int key = ka_file_key(&l);
		if (key < 0) {
			f->problems++;
			continue;
		}
		const char **slot = key == KA_NUM_VARS ? &f->exclude : &f->value[key];
		if (*slot)
			f->problems++; /* set again: the last line applies */
		/* The value ends at a blank, the line's end or the text's: ours to
		 * terminate, in f's copy. */
		f->buf[l.value - f->buf + l.vlen] = 0;
		*slot = l.value;
	}
	long long v;
	for (int i = 0; i < KA_NUM_VARS; i++)
		if (ka_parse(i, f->value[i], &v) == KA_INVALID)
			f->problems++;
}

int ka_config_merge(struct ka_config *c, const struct ka_file *f, const char *(*env)(const char *name))
{
	int report = f->problems > 0;
	for (int i = 0; i < KA_NUM_VARS; i++) {
		const char *v = env(ka_rules[i].var);
		int from_env = v != NULL && *v != 0;
		if (!from_env)
			v = f->value[i];
		c->value[i] = 0;
		c->state[i] = ka_parse(i, v, &c->value[i]);
		if (from_env && c->state[i] == KA_INVALID)
			report = 1; /* the file's own bad values are in f->problems */
	}
	return report;
}

int ka_excluded(const char *list, const char *name)
{
	size_t n = strlen(name);
	if (!list || n == 0)
		return 0;
	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\t' && *p != ',')
			p++;
		if ((size_t)(p - w) == n && memcmp(w, name, n) == 0)
			return 1;
	}
	return 0;
}

int ka_file_dests(const char *text, size_t n, struct ka_dest *out, int max)
{
	if (n > KA_FILE_MAX || memchr(text, 0, n) != NULL)
		return 0;
	const char *end = text + n;
	struct ka_file_line l;
	int count = 0, no = 0;
	for (const char *p = text; p <= end && count < max;) {
		p = ka_file_line(p, end, &l);
		no++;
		struct ka_dest_error e;
		if (!l.empty && ka_is_dest(l.text, l.len) && ka_dest_parse(l.text, l.len, &out[count], &e)) {
			out[count].line = no;
			count++;
		}
	}
	return count;
}
