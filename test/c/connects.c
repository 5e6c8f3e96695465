/* connects: the errno and return contract of connect(), which the library
 * wraps for rules by destination, and the options of what it connected:
 * each line is "CASE ret=R errno=E [options]". */
#include "probe.h"

#include <fcntl.h>
#include <sys/un.h>

static void report(const char *name, int fd, int r, int e, int show)
{
	char buf[256];
	printf("%s ret=%d errno=%d%s%s\n", name, r, e, show ? " " : "", show ? describe(fd, buf, sizeof buf) : "");
}

int main(void)
{
	struct sockaddr_in a;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || loopback_listen(l, &a) != 0)
		return 1;
	int fd, r;
	/* A good connect leaves errno as it was. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	errno = 4242;
	r = connect(fd, (struct sockaddr *)&a, sizeof a);
	report("loopback", fd, r, errno, 1);
	close(fd);
	/* A bad pointer is the kernel's EFAULT, not a crash in the library. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	errno = 4242;
	r = connect(fd, (struct sockaddr *)8, sizeof a);
	report("efault", fd, r, errno, 0);
	close(fd);
	/* A short length, a refused port, UDP, AF_UNSPEC and UNIX. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	errno = 4242;
	r = connect(fd, (struct sockaddr *)&a, 4);
	report("short", fd, r, errno, 0);
	close(fd);
	struct sockaddr_in closed = a;
	closed.sin_port = htons(1);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	errno = 4242;
	r = connect(fd, (struct sockaddr *)&closed, sizeof closed);
	report("refused", fd, r, errno, 1);
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	errno = 4242;
	r = connect(fd, (struct sockaddr *)&a, sizeof a);
	int e = errno;
	/* Loopback may finish at once; either way the socket is configured. */
	printf("nonblock %s ", r == 0 || e == EINPROGRESS ? "started" : "failed");
	report("", fd, 0, 0, 1);
	errno = 4242;
	r = connect(fd, (struct sockaddr *)&a, sizeof a);
	report("again", fd, r, errno, 0);
	close(fd);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	errno = 4242;
	r = connect(fd, (struct sockaddr *)&a, sizeof a);
	printf("udp ret=%d errno=%d ka=%d\n", r, errno, opt(fd, SOL_SOCKET, SO_KEEPALIVE));
	struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	errno = 4242;
	r = connect(fd, &unspec, sizeof unspec);
	report("unspec", fd, r, errno, 0);
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un u = {.sun_family = AF_UNIX, .sun_path = "/nonexistent/ka.sock"};
	errno = 4242;
	r = connect(fd, (struct sockaddr *)&u, sizeof u);
	report("unix", fd, r, errno, 0);
	close(fd);
	errno = 4242;
	r = connect(-1, (struct sockaddr *)&a, sizeof a);
	report("ebadf", -1, r, errno, 0);
	return 0;
}
