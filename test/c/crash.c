/* crash MODE: ends the way MODE says; the test compares the wait status with
 * and without the library. */
#include "probe.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

static volatile int *nowhere;

static void *segv(void *arg)
{
	(void)arg;
	*nowhere = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	struct rlimit none = {0, 0};
	setrlimit(RLIMIT_CORE, &none);
	const char *m = argc > 1 ? argv[1] : "";
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	(void)fd;
	if (strcmp(m, "segv") == 0)
		segv(NULL);
	if (strcmp(m, "segv-thread") == 0) {
		pthread_t t;
		pthread_create(&t, NULL, segv, NULL);
		pthread_join(t, NULL);
	}
	if (strcmp(m, "abort") == 0)
		abort();
	if (strcmp(m, "fpe") == 0) {
		volatile int a = 7, z = 0;
		printf("%d\n", a / z);
	}
	if (strcmp(m, "sigpipe") == 0) {
		int p[2];
		if (pipe(p) == 0) {
			close(p[0]);
			if (write(p[1], "x", 1) < 0)
				return 3;
		}
	}
	if (strcmp(m, "sigterm") == 0)
		raise(SIGTERM);
	if (strcmp(m, "kill-self") == 0)
		kill(getpid(), SIGTERM), pause();
	if (strcmp(m, "exit42") == 0)
		exit(42);
	if (strcmp(m, "return7") == 0)
		return 7;
	return 99;
}
