/* The cgroup tests' static C client (gcc -static: no loader, so no preload
 * reaches it); with -k it turns keepalive on itself, with TCP_KEEPIDLE 7,
 * before connect, and with -late sets its own after connect. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int g(int fd, int level, int name) {
	int v = -1;
	socklen_t len = sizeof v;
	if (getsockopt(fd, level, name, &v, &len) < 0)
		return -1;
	return v;
}

int main(int argc, char **argv) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	inet_pton(AF_INET, argv[1], &a.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (argc > 3 && strcmp(argv[3], "-k") == 0) {
		int one = 1, seven = 7;
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &seven, sizeof seven);
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("connect");
		return 1;
	}
	if (argc > 3 && strcmp(argv[3], "-late") == 0) {
		/* After connect, as daemons do: a good call, and one too short
		 * for an int that the kernel refuses with EINVAL. */
		int hundred = 100, rc, short_errno = 0;
		char one = 1;
		rc = setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &hundred, sizeof hundred);
		if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, 1) < 0)
			short_errno = errno;
		printf("late rc=%d short_errno=%d\n", rc, short_errno);
	}
	printf("conn ka=%d idle=%d intvl=%d cnt=%d ut=%d\n", g(fd, SOL_SOCKET, SO_KEEPALIVE), g(fd, IPPROTO_TCP, TCP_KEEPIDLE),
	       g(fd, IPPROTO_TCP, TCP_KEEPINTVL), g(fd, IPPROTO_TCP, TCP_KEEPCNT), g(fd, IPPROTO_TCP, TCP_USER_TIMEOUT));
	return 0;
}
