/* connect N: loopback connect()+accept() and both closes, prints us per
 * connection. The cgroup bench runs it in an attached and an unattached
 * cgroup; the listener is made here, so both ends belong to the cgroup and
 * both established callbacks run. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 64) || getsockname(l, (struct sockaddr *)&a, &al))
		return 1;
	/* Reset instead of FIN: no TIME_WAIT, so thousands of runs do not run
	 * out of ephemeral ports. */
	struct linger rst = {1, 0};
	long long t = now();
	for (long i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&a, sizeof a))
			return 1;
		int s = accept(l, NULL, NULL);
		if (s < 0)
			return 1;
		setsockopt(c, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
		close(c);
		close(s);
	}
	printf("%.2f\n", (double)(now() - t) / n / 1000);
	return 0;
}
