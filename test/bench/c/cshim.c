/* cshim: the smallest C shim with libkeepalive's semantics (same filter,
 * same setsockopt calls, errno kept, accept covered), for `make bench`: the
 * floor any shim pays per socket. No validation, no Go. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

static int (*real_socket)(int, int, int);
static int (*real_accept)(int, struct sockaddr *, socklen_t *);
static int vals[4] = {-1, -1, -1, -1};
static const int names[4] = {TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT};

__attribute__((constructor)) static void init(void)
{
	static const char *const env[4] = {"KEEPIDLE", "KEEPINTVL", "KEEPCNT", "KEEPUSERTIMEOUT"};
	real_socket = dlsym(RTLD_NEXT, "socket");
	real_accept = dlsym(RTLD_NEXT, "accept");
	for (int i = 0; i < 4; i++)
		if (getenv(env[i]))
			vals[i] = atoi(getenv(env[i])) * (i == 3 ? 1000 : 1);
}

static void configure(int fd)
{
	int saved = errno, on = 1;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
	for (int i = 0; i < 4; i++)
		if (vals[i] >= 0)
			setsockopt(fd, IPPROTO_TCP, names[i], &vals[i], sizeof vals[i]);
	errno = saved;
}

int socket(int domain, int type, int protocol)
{
	int fd = real_socket(domain, type, protocol);
	if (fd >= 0 && (domain == AF_INET || domain == AF_INET6) &&
	    (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM &&
	    (protocol == 0 || protocol == IPPROTO_TCP || protocol == 262))
		configure(fd);
	return fd;
}

int accept(int l, struct sockaddr *a, socklen_t *n)
{
	int fd = real_accept(l, a, n);
	if (fd >= 0) {
		int saved = errno, on = 0;
		socklen_t len = sizeof on;
		if (getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &len) == 0 && !on)
			configure(fd);
		errno = saved;
	}
	return fd;
}
