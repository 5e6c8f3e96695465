/* The settings: the configuration file and the environment, read once per
 * process and published without a lock, and the file kept for the report. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "../shim/cparse/dest.h"
#include "../shim/cparse/file.h"
#include "../shim/cparse/report.h"
#include "preload.h"

static struct ka_settings settings;
static int settings_state; /* 0 unread, 1 being written, 2 ready */

/* The configuration file as it was read for the settings, kept for the
 * report: the file is opened and read once per process. */
static char file_text[KA_FILE_MAX + 1];
static struct ka_source file_source;

/* The rules by destination, read from file_text by whoever publishes the
 * settings, before they are published. */
static struct ka_dest dests[KA_DEST_MAX];
static int ndests;

const char *ka_env(const char *name) { return getenv(name); }

/* 1 in a secure-execution process (setuid, setgid, capabilities). */
static int secure_execution(void) { return getauxval(AT_SECURE) != 0; }

/* named_path is KEEPALIVE_CONFIG when it counts: set, not empty, and not in
 * a secure-execution process. */
static const char *named_path(void)
{
	const char *path = secure_execution() ? NULL : getenv(KA_CONFIG_VAR);
	return path && *path ? path : NULL;
}

/* excluded: is this program on the file's exclude list, by the name it was
 * started as or by the name of its executable? */
static int excluded(const char *list)
{
	if (list == NULL)
		return 0;
	/* NULL when argv[0] is (kernels before 5.18 allow argc == 0). */
	if (program_invocation_short_name && ka_excluded(list, program_invocation_short_name))
		return 1;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return 0;
	exe[n] = 0;
	const char *base = strrchr(exe, '/');
	return ka_excluded(list, base ? base + 1 : exe);
}

/* read_settings reads the file (into text, described by src) and the
 * environment. Out of line: its buffers must not weigh on the frame of
 * every socket() call, which may run on a small signal stack. */
__attribute__((noinline)) static void read_settings(struct ka_settings *s, struct ka_source *src, char *text)
{
	int saved = errno;
	struct ka_file f;
	const char *named = named_path();
	src->path = named ? named : KA_DEFAULT_FILE;
	src->named = named != NULL;
	src->text = text;
	src->err = ka_file_read(src->path, text, KA_FILE_MAX + 1, &src->n, &src->kind);
	ka_file_parse(&f, text, src->n);
	int report = ka_config_merge(&s->cfg, &f, ka_env);
	report |= src->kind != 0 || (src->err != 0 && (src->err != ENOENT || src->named));
	const struct ka_config *c = &s->cfg;
	if (excluded(f.exclude)) {
		s->enabled = s->forced = s->debug = s->report = s->secure_debug = s->ndest = 0;
		errno = saved;
		return;
	}
	s->enabled = !(c->state[KA_VAR_KEEPALIVE] == KA_OK && c->value[KA_VAR_KEEPALIVE] == 0);
	s->forced = c->state[KA_VAR_KEEPALIVE] == KA_OK && c->value[KA_VAR_KEEPALIVE] == KA_FORCE;
	int debug = c->state[KA_VAR_KEEPALIVE_DEBUG] == KA_OK && c->value[KA_VAR_KEEPALIVE_DEBUG] == 1;
	s->debug = debug && !secure_execution();
	s->secure_debug = debug && !s->debug;
	s->report = report || s->secure_debug;
	s->ndest = f.ndest;
	errno = saved;
}

__attribute__((noinline)) static const struct ka_settings *first_read(struct ka_settings *scratch)
{
	char text[KA_FILE_MAX + 1];
	struct ka_source src;
	read_settings(scratch, &src, text);
	int unread = 0;
	if (__atomic_compare_exchange_n(&settings_state, &unread, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		settings = *scratch;
		memcpy(file_text, text, src.n);
		file_source = src;
		file_source.text = file_text;
		if (settings.ndest)
			ndests = ka_file_dests(file_text, src.n, dests, KA_DEST_MAX);
		__atomic_store_n(&settings_state, 2, __ATOMIC_RELEASE);
	}
	return scratch;
}

/* The environment does not change under us in any way we honour: settings
 * are read once. Racing readers each read their own copy and one publishes
 * it, so no caller ever waits on a lock (a signal handler may be calling). */
const struct ka_settings *ka_get(struct ka_settings *scratch)
{
	if (__atomic_load_n(&settings_state, __ATOMIC_ACQUIRE) == 2)
		return &settings;
	return first_read(scratch);
}

const struct ka_source *ka_source(void)
{
	return __atomic_load_n(&settings_state, __ATOMIC_ACQUIRE) == 2 ? &file_source : NULL;
}

const struct ka_dest *ka_dests(int *n)
{
	if (__atomic_load_n(&settings_state, __ATOMIC_ACQUIRE) != 2)
		return NULL;
	*n = ndests;
	return dests;
}
