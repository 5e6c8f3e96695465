/* bench MODE N: the C host of `make bench`.
 *   socket N   socket()+close() of a TCP socket, prints ns per pair
 *   accept N   accept() of a loopback connection, prints ns per accept (the
 *              accept call alone)
 *   connect N  socket()+connect() of a loopback client, prints ns per pair
 *              and ns per connect() alone (the listener's side by raw
 *              system calls, untimed)
 *   spawn N    posix_spawn of /bin/true and waitpid, prints us per process
 *   hold       opens one socket, sleeps, prints peak RSS (kB) and threads
 *   setsockopt N  setsockopt(TCP_KEEPIDLE) on one TCP socket, as a program
 *              setting its own timer does, prints ns per call */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? atol(argv[2]) : 0;
	if (strcmp(mode, "socket") == 0) {
		long long t = now();
		for (long i = 0; i < n; i++)
			close(socket(AF_INET, SOCK_STREAM, 0));
		printf("%.1f\n", (double)(now() - t) / n);
	} else if (strcmp(mode, "accept") == 0) {
		int l = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t al = sizeof a;
		int one = 1;
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 64) || getsockname(l, (struct sockaddr *)&a, &al))
			return 1;
		long long in_accept = 0;
		for (long i = 0; i < n; i++) {
			/* The client is made by a raw system call: only accept is timed. */
			int c = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
			if (connect(c, (struct sockaddr *)&a, sizeof a))
				return 1;
			long long t = now();
			int s = accept(l, NULL, NULL);
			in_accept += now() - t;
			close(s);
			close(c);
		}
		printf("%.1f\n", (double)in_accept / n);
	} else if (strcmp(mode, "connect") == 0) {
		int l = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t al = sizeof a;
		if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 64) || getsockname(l, (struct sockaddr *)&a, &al))
			return 1;
		struct linger rst = {1, 0}; /* no TIME_WAIT: no running out of ports */
		long long pair = 0, alone = 0;
		for (long i = 0; i < n; i++) {
			long long t0 = now();
			int c = socket(AF_INET, SOCK_STREAM, 0);
			long long t1 = now();
			if (connect(c, (struct sockaddr *)&a, sizeof a))
				return 1;
			long long t2 = now();
			pair += t2 - t0, alone += t2 - t1;
			int s = (int)syscall(SYS_accept4, l, NULL, NULL, 0);
			syscall(SYS_setsockopt, c, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
			close(c);
			close(s);
		}
		printf("%.1f %.1f\n", (double)pair / n, (double)alone / n);
	} else if (strcmp(mode, "spawn") == 0) {
		char *args[] = {"true", NULL};
		long long t = now();
		for (long i = 0; i < n; i++) {
			pid_t p;
			int st;
			if (posix_spawn(&p, "/bin/true", NULL, NULL, args, environ) || waitpid(p, &st, 0) != p)
				return 1;
		}
		printf("%.1f\n", (double)(now() - t) / n / 1000);
	} else if (strcmp(mode, "setsockopt") == 0) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int v = 15;
		long long t = now();
		for (long i = 0; i < n; i++)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v);
		printf("%.1f\n", (double)(now() - t) / n);
	} else if (strcmp(mode, "hold") == 0) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		(void)fd;
		usleep(300000);
		FILE *f = fopen("/proc/self/status", "r");
		char line[256];
		long rss = 0, threads = 0;
		while (f && fgets(line, sizeof line, f)) {
			sscanf(line, "VmHWM: %ld", &rss);
			sscanf(line, "Threads: %ld", &threads);
		}
		printf("%ld %ld\n", rss, threads);
	} else {
		fprintf(stderr, "usage: bench socket|accept|connect|spawn|setsockopt N | bench hold\n");
		return 2;
	}
	return 0;
}
