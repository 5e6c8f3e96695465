/* What runs when the library is loaded, before the host's main(): the real
 * calls are resolved, descriptor 2 is looked at, the settings are read, and
 * a bad one is reported. All of it is C.
 *
 * The library is a Go c-shared build, and the Go runtime never starts in a
 * host: the overlay (scripts/gen-overlay) keeps the runtime's library
 * constructor from installing signal handlers or starting its thread. A
 * running runtime would die under a low ulimit -d or -v, RLIMIT_NPROC or a
 * cgroup's pids.max, under musl (golang/go#13492), and would honour a user's
 * GODEBUG inside a setuid program; it would add threads, take signals meant
 * for the host and make unshare(CLONE_NEWUSER) fail. The report of a bad
 * value is written from C with shim's words (shim/cparse/report.c), the same
 * lines `keepalive check` prints. */
#define _GNU_SOURCE
#include <errno.h>

#include "../shim/cparse/report.h"
#include "preload.h"

static void emit(void *ctx, const char *line)
{
	(void)ctx;
	ka_write_line(line, 0);
}

/* Priority 101: before the Go runtime's own .init_array entry, and before
 * any constructor of a library loaded after us can call socket(). */
__attribute__((constructor(101))) static void ka_init(void)
{
	int saved = errno;
	ka_output_init();
	for (int i = 0; i < KA_NUM_REAL; i++)
		ka_real(i);
	struct ka_settings scratch;
	const struct ka_settings *s = ka_get(&scratch);
	const struct ka_source *src = ka_source();
	if (s->report && src)
		ka_report(src, ka_env, emit, NULL);
	if (s->secure_debug)
		ka_write_line(KA_MSG_SECURE_DEBUG, 0);
	errno = saved;
}
