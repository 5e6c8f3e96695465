/* Code that must run before the Go runtime starts, and why.
 *
 * Most processes never start the runtime at all: Go is only needed to tell
 * the user about a bad variable (its init does that). ka_before_go decides;
 * when there is nothing to report it sets ka_runtime_inert, so that the
 * runtime's library constructor installs no signal handler, and
 * ka_defer_runtime keeps it from starting the runtime's thread (both through
 * scripts/gen-overlay). What follows is for the processes that do start it.
 *
 * The runtime of a c-shared library starts from its own .init_array entry
 * on a new thread, and every thread it ever makes takes its signal mask
 * from that first thread (runtime.initSigmask). Left alone, the runtime's
 * threads would have the host's process signals unblocked, and a SIGTERM
 * that a daemon blocks to read with signalfd or sigwait, or the SIGCHLD that
 * timeout(1) waits for in sigsuspend, would land on a Go thread instead.
 *
 * So ka_before_go, with a constructor priority, runs before the runtime's
 * entry and blocks every asynchronous signal on the loading thread; the
 * runtime's first thread inherits that mask and passes it on to all the
 * others. ka_after_go, an ordinary constructor, runs after the runtime's
 * entry (go.o is linked before the cgo objects) and gives the loading thread
 * its mask back. test/ checks both the order and the runtime threads' masks.
 *
 * Signals that stay deliverable to Go threads: the synchronous ones (they
 * only ever go to the faulting thread) and glibc's 32 and 33, which must
 * reach every thread for setuid() and thread cancellation to work. The
 * overlay (scripts/gen-overlay) makes SIGSTKFLT, SIGCHLD, SIGPROF and signal
 * 34 (glibc's SIGRTMIN) blockable, and the Makefile turns asynchronous
 * preemption off, so that SIGURG is blockable too. */
#define _GNU_SOURCE
#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <time.h>

#include "../shim/cparse/file.h"
#include "preload.h"

static sigset_t host_mask;
static int masked;
static sem_t reported;

static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};

/* The configuration file, read for Go's report. */
static char file_text[KA_FILE_MAX + 1];
static size_t file_len;
static int file_err;

const char *ka_report_file(size_t *n, int *err)
{
	*n = file_len;
	*err = file_err;
	return file_text;
}

/* 1 when Go has something to tell the user, so that its runtime must run. */
static int want_go;

/* The Go runtime reserves about 1 GB of address space as it starts and dies
 * when it cannot (golang/go#38010): under a lower `ulimit -v` the report is
 * written from C instead, with the same rules' words but without Go's
 * reason for each refusal. */
#define GO_NEEDS_ADDRESS_SPACE (4ULL << 30)

static int go_can_start(void)
{
	struct rlimit rl;
	return getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= GO_NEEDS_ADDRESS_SPACE;
}

static void report_in_c(const struct ka_settings *s)
{
	for (int i = 0; i < KA_NUM_VARS; i++) {
		if (s->cfg.state[i] != KA_INVALID)
			continue;
		const char *v = getenv(ka_rules[i].var);
		if (v == NULL || *v == 0)
			continue; /* from the file: said below */
		char line[1024] = "libkeepalive: ";
		size_t n = strlen(line);
		n += (size_t)snprintf(line + n, sizeof line - n, "%s=\"", ka_rules[i].var);
		for (int k = 0; v && v[k] && k < 64 && n < 400; k++) {
			unsigned char c = (unsigned char)v[k];
			if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
				line[n++] = (char)c;
			else
				n += (size_t)snprintf(line + n, sizeof line - n, "\\x%02x", c);
		}
		snprintf(line + n, sizeof line - n, "\" is not valid: want %s; %s", ka_rules[i].want, ka_rules[i].instead);
		ka_write_line(line);
	}
	if (s->file_problems)
		ka_write_line("libkeepalive: the configuration file has lines or values that are not valid and are ignored; "
			      "the details need more address space than this process's ulimit -v allows");
	if (s->cfg.state[KA_VAR_KEEPALIVE_DEBUG] == KA_OK && s->cfg.value[KA_VAR_KEEPALIVE_DEBUG] == 1 && ka_secure())
		ka_write_line("libkeepalive: KEEPALIVE_DEBUG is ignored in a setuid, setgid or file-capability process; debug lines stay off");
}

__attribute__((constructor(101))) static void ka_before_go(void)
{
	int saved = errno;
	struct ka_settings scratch;
	for (int i = 0; i < KA_NUM_REAL; i++)
		ka_real(i);
	const struct ka_settings *s = ka_get(&scratch);
	/* The Go runtime never starts (scripts/gen-overlay), so C reports. */
	if (!s->report || !go_can_start() || 1) {
		if (s->report)
			report_in_c(s);
		errno = saved;
		return;
	}
	want_go = 1;
	file_err = ka_config_text(file_text, sizeof file_text, &file_len);

	sem_init(&reported, 0, 0);
	sigset_t block;
	sigfillset(&block);
	for (unsigned i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++)
		sigdelset(&block, synchronous[i]);
	if (pthread_sigmask(SIG_BLOCK, &block, &host_mask) == 0)
		masked = 1;
	errno = saved;
}

__attribute__((constructor)) static void ka_after_go(void)
{
	if (!want_go)
		return;
	int saved = errno;
	if (masked)
		pthread_sigmask(SIG_SETMASK, &host_mask, NULL);

	/* Go's init reports on the runtime's thread. Wait for it (boundedly)
	 * so that the lines come before anything the program prints, and are not
	 * lost when the program exits at once. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	while (sem_timedwait(&reported, &until) != 0 && errno == EINTR)
		;
	errno = saved;
}

void ka_reported(void) { sem_post(&reported); }

int ka_secure(void) { return getauxval(AT_SECURE) != 0; }
