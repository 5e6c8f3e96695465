/* forks: 20 children, each opens a TCP socket and reports through its exit
 * status whether it has keepalive. For the builds where safety.c's "fork"
 * mode does not compile (musl lacks _SC_MINSIGSTKSZ). */
#include "probe.h"

#include <sys/wait.h>

int main(void)
{
	int ka = 0;
	for (int i = 0; i < 20; i++) {
		pid_t p = fork();
		if (p == 0) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			_exit(fd >= 0 && ka_on(fd) ? 10 : 11);
		}
		int st;
		if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st)) {
			printf("child %d failed\n", i);
			return 1;
		}
		ka += WEXITSTATUS(st) == 10;
	}
	printf("children=20 child_ka=%d\n", ka);
	printf("PASS\n");
	return 0;
}
