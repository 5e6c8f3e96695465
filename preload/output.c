/* Where the library's lines go, and the rules that keep them from harming
 * the host.
 *
 * Descriptor 2 is not always the user's terminal. Under inetd, xinetd,
 * systemd's Accept=yes or tcpserver it is the client's connection; a daemon
 * that closed it may have reopened the number for a data file or a socket; a
 * pipe may have lost its reader (SIGPIPE) or be full (a write would block).
 * So:
 * - the library writes only to the descriptor 2 the process started with
 *   (the same file, checked with fstat before each line), and never to a
 *   socket other than AF_UNIX (the journal's stream), nor to an AF_UNIX
 *   socket that is also descriptor 0 (an inetd-style service);
 * - it writes only when poll says the write cannot block, never raises
 *   SIGPIPE (MSG_NOSIGNAL on sockets; on pipes SIGPIPE is blocked around
 *   the write and a SIGPIPE the write raised is taken back);
 * - a line that cannot be written so is dropped if it is a debug line, and
 *   goes to syslog (/dev/log) if it is the report of a bad setting, which
 *   the operator must be able to find.
 * Everything here is async-signal-safe. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../shim/cparse/line.h"
#include "../shim/cparse/report.h"
#include "preload.h"

/* What descriptor 2 was when the library was loaded. */
static struct {
	int state; /* 0 not looked at, 1 usable, 2 not usable */
	dev_t dev;
	ino_t ino;
	mode_t mode;
} start_err;

void ka_output_init(void)
{
	struct stat st, in;
	int state = 2;
	if (fstat(STDERR_FILENO, &st) == 0) {
		state = 1;
		if (S_ISSOCK(st.st_mode)) {
			int domain = 0;
			socklen_t n = sizeof domain;
			if (getsockopt(STDERR_FILENO, SOL_SOCKET, SO_DOMAIN, &domain, &n) != 0 || domain != AF_UNIX)
				state = 2;
			if (fstat(STDIN_FILENO, &in) == 0 && in.st_dev == st.st_dev && in.st_ino == st.st_ino)
				state = 2;
		}
		start_err.dev = st.st_dev;
		start_err.ino = st.st_ino;
		start_err.mode = st.st_mode;
	}
	__atomic_store_n(&start_err.state, state, __ATOMIC_RELEASE);
}

/* still_stderr: descriptor 2 is the file the process started with. */
static int still_stderr(void)
{
	int state = __atomic_load_n(&start_err.state, __ATOMIC_ACQUIRE);
	if (state == 0) {
		ka_output_init();
		state = __atomic_load_n(&start_err.state, __ATOMIC_ACQUIRE);
	}
	struct stat st;
	return state == 1 && fstat(STDERR_FILENO, &st) == 0 && st.st_dev == start_err.dev && st.st_ino == start_err.ino;
}

/* write_pipe writes without ever raising SIGPIPE in the host. */
static ssize_t write_pipe(const char *buf, size_t n)
{
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	int was_pending = sigismember(&pending, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old);
	ssize_t r = write(STDERR_FILENO, buf, n);
	if (r < 0 && errno == EPIPE && !was_pending) {
		struct timespec zero = {0, 0};
		int saved = errno;
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
		errno = saved;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}

/* to_stderr: 1 if the whole line was written. */
static int to_stderr(const char *buf, size_t n)
{
	if (!still_stderr())
		return 0;
	struct pollfd p = {.fd = STDERR_FILENO, .events = POLLOUT};
	if (poll(&p, 1, 0) != 1 || (p.revents & (POLLERR | POLLHUP | POLLNVAL)) || !(p.revents & POLLOUT))
		return 0;
	ssize_t r;
	if (S_ISSOCK(start_err.mode))
		r = send(STDERR_FILENO, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	else if (S_ISFIFO(start_err.mode))
		r = write_pipe(buf, n);
	else
		r = write(STDERR_FILENO, buf, n);
	return r == (ssize_t)n;
}

/* to_syslog sends the line to /dev/log as facility user, level warning,
 * with no timestamp (the receiver adds it). */
__attribute__((noinline)) static void to_syslog(const char *line, size_t n)
{
	char buf[KA_MSG_MAX + 64];
	struct ka_line l;
	ka_line_start(&l, buf, sizeof buf);
	ka_put(&l, "<12>libkeepalive[");
	ka_put_num(&l, getpid());
	ka_put(&l, "]: ");
	size_t skip = strncmp(line, KA_PREFIX, strlen(KA_PREFIX)) == 0 ? strlen(KA_PREFIX) : 0;
	ka_put_n(&l, line + skip, n - skip);
	int fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	struct sockaddr_un a = {.sun_family = AF_UNIX, .sun_path = "/dev/log"};
	sendto(fd, buf, l.n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a, sizeof a);
	close(fd);
}

void ka_write_line(const char *s, int debug)
{
	int saved = errno;
	char buf[KA_MSG_MAX + 1];
	size_t n = strlen(s);
	if (n > sizeof buf - 1)
		n = sizeof buf - 1;
	memcpy(buf, s, n);
	buf[n] = '\n';
	/* One write, so that lines of concurrent processes do not interleave. */
	if (!to_stderr(buf, n + 1) && !debug)
		to_syslog(buf, n);
	errno = saved;
}
