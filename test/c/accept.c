/* accept MODE: a listener on 127.0.0.1, one connection, and what the kernel
 * says of the accepted socket.
 *   raw       listener made by a raw syscall, as systemd or inetd hand over
 *   raw4      the same, accepted with accept4(SOCK_CLOEXEC)
 *   shim      listener made by socket()
 *   raw-addr  as raw, asking accept for the peer's address
 *   app       listener made by socket(), then tuned by the program itself
 *   unix      a UNIX listener: the accepted socket must stay untouched */
#include "probe.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/syscall.h>


static int raw_socket(void) { return (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); }

#include <sys/un.h>

static int unix_case(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "libkeepalive-test-%d", getpid());
	socklen_t al = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(l, (struct sockaddr *)&a, al) || listen(l, 1))
		return 1;
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&a, al))
		return 1;
	struct sockaddr_un peer;
	socklen_t pl = sizeof peer;
	errno = 4242;
	int s = accept(l, (struct sockaddr *)&peer, &pl);
	printf("accepted ka=%d errno=%d\n", opt(s, SOL_SOCKET, SO_KEEPALIVE), errno);
	errno = 4242;
	int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
	connect(c2, (struct sockaddr *)&a, al);
	s = accept(l, NULL, NULL);
	printf("accepted_noaddr ka=%d errno=%d\n", opt(s, SOL_SOCKET, SO_KEEPALIVE), errno);
	printf("PASS\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "raw";
	if (strcmp(mode, "unix") == 0)
		return unix_case();
	int raw = strncmp(mode, "raw", 3) == 0;
	int l = raw ? raw_socket() : socket(AF_INET, SOCK_STREAM, 0);
	if (strcmp(mode, "app") == 0) {
		int on = 1, idle = 77;
		setsockopt(l, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
		setsockopt(l, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	}
	struct sockaddr_in a;
	if (loopback_listen(l, &a)) {
		perror("listen");
		return 1;
	}
	int c = raw_socket();
	if (connect(c, (struct sockaddr *)&a, sizeof a)) {
		perror("connect");
		return 1;
	}
	errno = 4242;
	struct sockaddr_storage peer;
	socklen_t pl = sizeof peer;
	int s = strcmp(mode, "raw4") == 0	   ? accept4(l, NULL, NULL, SOCK_CLOEXEC)
		: strcmp(mode, "raw-addr") == 0 ? accept(l, (struct sockaddr *)&peer, &pl)
						: accept(l, NULL, NULL);
	int e = errno;
	if (s < 0) {
		perror("accept");
		return 1;
	}
	char buf[256];
	printf("accepted %s errno=%d\n", describe(s, buf, sizeof buf), e);
	printf("listener %s\n", describe(l, buf, sizeof buf));
	/* accept failing: the same errno as libc's. */
	errno = 0;
	int r = accept(c, NULL, NULL);
	printf("accept_fail ret=%d errno=%d\n", r, errno);
	printf("PASS\n");
	return 0;
}
