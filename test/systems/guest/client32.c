/* A 32-bit legacy client for the guests (built for i386 against Debian 11's
 * glibc): it connects to ADDR PORT, holds the connection, and connects once
 * more on each SIGUSR1, never touching a socket option itself. Under the
 * Environment= drop-in the library's i386 build, found through
 * LD_PRELOAD=/usr/$LIB/libkeepalive.so, gives it keepalive; ka-probe socks
 * reads the result from the kernel. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t more;

static void on_usr1(int sig) {
	(void)sig;
	more = 1;
}

static int dial(const char *addr, int port) {
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	inet_pton(AF_INET, addr, &a.sin_addr);
	for (int i = 0; i < 100; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		usleep(100000);
	}
	return -1;
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: client32 ADDR PORT\n");
		return 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	for (int n = 1;; n++) {
		if (dial(argv[1], atoi(argv[2])) < 0) {
			perror("client32: connect");
			return 1;
		}
		printf("client32: connection %d, pointer size %zu\n", n, sizeof(void *));
		fflush(stdout);
		while (!more)
			pause();
		more = 0;
	}
}
