/* accept MODE: a listener on 127.0.0.1, one connection, and what the kernel
 * says of the accepted socket.
 *   raw       listener made by a raw syscall, as systemd or inetd hand over
 *   raw4      the same, accepted with accept4(SOCK_CLOEXEC)
 *   shim      listener made by socket()
 *   app       listener made by socket(), then tuned by the program itself */
#include "probe.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/syscall.h>


static int raw_socket(void) { return (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); }

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "raw";
	int raw = strncmp(mode, "raw", 3) == 0;
	int l = raw ? raw_socket() : socket(AF_INET, SOCK_STREAM, 0);
	if (strcmp(mode, "app") == 0) {
		int on = 1, idle = 77;
		setsockopt(l, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
		setsockopt(l, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	}
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al)) {
		perror("listen");
		return 1;
	}
	int c = raw_socket();
	if (connect(c, (struct sockaddr *)&a, sizeof a)) {
		perror("connect");
		return 1;
	}
	errno = 4242;
	int s = strcmp(mode, "raw4") == 0 ? accept4(l, NULL, NULL, SOCK_CLOEXEC) : accept(l, NULL, NULL);
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
