/* signals MODE: hosts that take their signals in their own way.
 *   signalfd   blocks TERM, HUP, USR1 and SIGRTMIN and reads them from a signalfd
 *   sigwait    the same with sigwaitinfo
 *   sigchld    blocks SIGCHLD and reads one from a signalfd for each of 200
 *              children, waiting at most 5 s for each
 *   masks      prints the blocked set of each of its threads (it makes none
 *              itself: any other thread is the library's)
 *   dispositions  prints each signal's disposition
 * The test sends the signals one at a time and waits for "got" before the
 * next, since standard signals do not queue. */
#include "probe.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

static void block(sigset_t *set, int with_rt)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	if (with_rt)
		sigaddset(set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, set, NULL);
}

static int report(int sig, int *counts)
{
	if (sig == SIGTERM) {
		printf("done hup=%d usr1=%d rtmin=%d\n", counts[0], counts[1], counts[2]);
		return 1;
	}
	counts[sig == SIGHUP ? 0 : sig == SIGUSR1 ? 1 : 2]++;
	printf("got %d\n", sig);
	fflush(stdout);
	return 0;
}

static int mode_signalfd(void)
{
	sigset_t set;
	int counts[3] = {0};
	block(&set, 1);
	int fd = signalfd(-1, &set, SFD_CLOEXEC);
	printf("READY\n");
	fflush(stdout);
	for (;;) {
		struct signalfd_siginfo si;
		if (read(fd, &si, sizeof si) != sizeof si)
			return 1;
		if (report((int)si.ssi_signo, counts))
			return 0;
	}
}

static int mode_sigwait(void)
{
	sigset_t set;
	int counts[3] = {0};
	block(&set, 1);
	printf("READY\n");
	fflush(stdout);
	for (;;) {
		int sig = sigwaitinfo(&set, NULL);
		if (sig < 0)
			continue;
		if (report(sig, counts))
			return 0;
	}
}

static int mode_sigchld(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int fd = signalfd(-1, &set, SFD_CLOEXEC);
	int seen = 0;
	for (int i = 0; i < 200; i++) {
		pid_t p = fork();
		if (p == 0)
			_exit(0);
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 5000) == 1) {
			struct signalfd_siginfo si;
			if (read(fd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGCHLD)
				seen++;
		}
		waitpid(p, NULL, 0);
	}
	printf("children=200 seen=%d\n", seen);
	return 0;
}

static void print_mask(const char *tid, const char *line, void *self)
{
	printf("task %s %s", strcmp(tid, self) == 0 ? "main" : "other", line);
}

static int mode_masks(void)
{
	usleep(200000); /* the runtime's threads are up by now */
	char self[32];
	snprintf(self, sizeof self, "%d", getpid());
	task_lines("SigBlk:", print_mask, self);
	return 0;
}

/* Prints each signal's disposition: default, ignored or a handler, and its
 * flags. */
static int mode_dispositions(void)
{
	for (int sig = 1; sig < 65; sig++) {
		struct sigaction sa;
		if (sigaction(sig, NULL, &sa) != 0)
			continue;
		const char *what = sa.sa_handler == SIG_DFL ? "default" : sa.sa_handler == SIG_IGN ? "ignored" : "handler";
		printf("signal %d %s flags=%#x\n", sig, what, (unsigned)sa.sa_flags);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";
	int r = 2;
	if (strcmp(m, "signalfd") == 0)
		r = mode_signalfd();
	else if (strcmp(m, "sigwait") == 0)
		r = mode_sigwait();
	else if (strcmp(m, "sigchld") == 0)
		r = mode_sigchld();
	else if (strcmp(m, "masks") == 0)
		r = mode_masks();
	else if (strcmp(m, "dispositions") == 0)
		r = mode_dispositions();
	if (r == 0)
		printf("PASS\n");
	return r;
}
