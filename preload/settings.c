#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../shim/cparse/file.h"
#include "preload.h"

static struct ka_settings settings;
static int settings_state; /* 0 unread, 1 being written, 2 ready */

static const char *lookup(const char *name) { return getenv(name); }

const char *ka_config_path(void)
{
	const char *path = ka_secure() ? NULL : getenv(KA_CONFIG_VAR);
	return path && *path ? path : KA_DEFAULT_FILE;
}

int ka_config_text(char *text, size_t cap, size_t *n)
{
	*n = 0;
	int fd = open(ka_config_path(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	for (;;) {
		ssize_t r = read(fd, text + *n, cap - *n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (*n += (size_t)r) == cap)
			break;
	}
	close(fd);
	return 0;
}

/* read_file reads the configuration file into f; a missing file is an empty
 * one, an unreadable one a problem to report. */
static void read_file(struct ka_file *f)
{
	char text[KA_FILE_MAX + 1];
	size_t n;
	int err = ka_config_text(text, sizeof text, &n);
	ka_file_parse(f, text, n);
	if (err != 0 && err != ENOENT)
		f->problems++;
}

/* excluded: is this program on the file's exclude list, by the name it was
 * started as or by the name of its executable? */
static int excluded(const char *list)
{
	if (list == NULL)
		return 0;
	if (ka_excluded(list, program_invocation_short_name))
		return 1;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return 0;
	exe[n] = 0;
	const char *base = strrchr(exe, '/');
	return ka_excluded(list, base ? base + 1 : exe);
}

static void read_settings(struct ka_settings *s)
{
	int saved = errno;
	struct ka_file f;
	read_file(&f);
	int report = ka_config_merge(&s->cfg, &f, lookup);
	s->file_problems = f.problems;
	const struct ka_config *c = &s->cfg;
	if (excluded(f.exclude)) {
		s->enabled = s->debug = s->report = 0;
		errno = saved;
		return;
	}
	s->enabled = !(c->state[KA_VAR_KEEPALIVE] == KA_OK && c->value[KA_VAR_KEEPALIVE] == 0);
	int debug = c->state[KA_VAR_KEEPALIVE_DEBUG] == KA_OK && c->value[KA_VAR_KEEPALIVE_DEBUG] == 1;
	s->debug = debug && !ka_secure();
	s->report = report || (debug && !s->debug);
	errno = saved;
}

/* The environment does not change under us in any way we honour: settings
 * are read once. Racing readers each read their own copy and one publishes
 * it, so no caller ever waits on a lock (a signal handler may be calling). */
const struct ka_settings *ka_get(struct ka_settings *scratch)
{
	if (__atomic_load_n(&settings_state, __ATOMIC_ACQUIRE) == 2)
		return &settings;
	read_settings(scratch);
	int unread = 0;
	if (__atomic_compare_exchange_n(&settings_state, &unread, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		settings = *scratch;
		__atomic_store_n(&settings_state, 2, __ATOMIC_RELEASE);
	}
	return scratch;
}

static const char *const real_names[KA_NUM_REAL] = {"socket", "accept", "accept4"};
static void *real_fns[KA_NUM_REAL];
static int real_state[KA_NUM_REAL]; /* 0 unresolved, 1 resolved (maybe NULL) */

static void say_unresolved(const char *name, const char *why)
{
	char line[512] = "libkeepalive: cannot find the real ";
	strncat(line, name, 32);
	strcat(line, "() after this library (");
	strncat(line, why ? why : "unknown reason", 300);
	strcat(line, "); calling the kernel directly");
	ka_write_line(line);
}

/* Resolution happens in our first constructor, before the host can have a
 * signal handler calling in; only a socket opened by an earlier library's
 * constructor resolves lazily, and dlsym is safe there. */
void *ka_real(int which)
{
	if (__atomic_load_n(&real_state[which], __ATOMIC_ACQUIRE))
		return real_fns[which];
	int saved = errno;
	void *fn = dlsym(RTLD_NEXT, real_names[which]);
	Dl_info self, found;
	if (fn == NULL) {
		say_unresolved(real_names[which], dlerror());
	} else if (dladdr((void *)ka_real, &self) && dladdr(fn, &found) && self.dli_fbase == found.dli_fbase) {
		say_unresolved(real_names[which], "dlsym returned this library's own symbol");
		fn = NULL;
	}
	real_fns[which] = fn;
	__atomic_store_n(&real_state[which], 1, __ATOMIC_RELEASE);
	errno = saved;
	return fn;
}

void ka_write_line(const char *s)
{
	size_t n = strlen(s);
	char buf[1024];
	if (n > sizeof buf - 1)
		n = sizeof buf - 1;
	memcpy(buf, s, n);
	buf[n++] = '\n';
	/* One write, so that lines of concurrent processes do not interleave. */
	ssize_t r = write(STDERR_FILENO, buf, n);
	(void)r;
}
