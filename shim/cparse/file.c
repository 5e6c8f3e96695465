#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* trim cuts spaces and tabs from both ends of [*s, *e). */
static void trim(char **s, char **e)
{
	while (*s < *e && blank(**s))
		(*s)++;
	while (*e > *s && blank((*e)[-1]))
		(*e)--;
}

void ka_file_parse(struct ka_file *f, const char *text, size_t n)
{
	for (int i = 0; i < KA_NUM_VARS; i++)
		f->value[i] = NULL;
	f->exclude = NULL;
	f->problems = 0;
	f->buf[0] = 0;
	if (n > KA_FILE_MAX || memchr(text, 0, n) != NULL) {
		f->problems = 1; /* refused whole */
		return;
	}
	memcpy(f->buf, text, n);
	f->buf[n] = 0;
	char *p = f->buf, *end = f->buf + n;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *s = p, *e = nl ? nl : end;
		p = nl ? nl + 1 : end;
		if (e > s && e[-1] == '\r')
			e--;
		trim(&s, &e);
		if (s == e || *s == '#')
			continue;
		char *eq = memchr(s, '=', (size_t)(e - s));
		if (!eq) {
			f->problems++;
			continue;
		}
		char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
		trim(&ks, &ke);
		trim(&vs, &ve);
		*ke = 0;
		*ve = 0;
		const char **slot = NULL;
		if (strcmp(ks, KA_EXCLUDE_VAR) == 0)
			slot = &f->exclude;
		for (int i = 0; i < KA_NUM_VARS && !slot; i++)
			if (strcmp(ks, ka_rules[i].var) == 0)
				slot = &f->value[i];
		if (!slot) {
			f->problems++;
			continue;
		}
		if (*slot)
			f->problems++; /* set again: the last line applies */
		*slot = vs;
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
