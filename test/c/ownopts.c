/* ownopts: a program that sets its own keepalive, as redis-cli does right
 * after connect (15/5/3) and as a program that turns keepalive off would;
 * on a client socket and on an accepted one. Prints the kernel's values. */
#include "probe.h"

static int setopt(int fd, int level, int name, int v)
{
	int r = setsockopt(fd, level, name, &v, sizeof v);
	if (r != 0)
		printf("setsockopt %d/%d failed: %s\n", level, name, strerror(errno));
	return r;
}

static void own(int fd)
{
	setopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	setopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, 15);
	setopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, 5);
	setopt(fd, IPPROTO_TCP, TCP_KEEPCNT, 3);
}

int main(void)
{
	char buf[128];
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	if (loopback_listen(l, &a))
		return 1;
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&a, sizeof a))
		return 1;
	own(c);
	printf("client %s\n", describe(c, buf, sizeof buf));
	int s = accept(l, NULL, NULL);
	own(s);
	printf("accepted %s\n", describe(s, buf, sizeof buf));
	int off = socket(AF_INET6, SOCK_STREAM, 0);
	errno = 4242;
	int r = setopt(off, SOL_SOCKET, SO_KEEPALIVE, 0);
	printf("off r=%d errno=%d %s\n", r, errno, describe(off, buf, sizeof buf));
	/* Options force does not keep still reach the kernel. */
	setopt(off, IPPROTO_TCP, TCP_NODELAY, 1);
	printf("nodelay=%d\n", opt(off, IPPROTO_TCP, TCP_NODELAY));
	printf("PASS\n");
	return 0;
}
