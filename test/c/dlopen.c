/* dlopen LIB: loads the library at run time, from the main thread and then
 * again from another thread, and goes on living: a child, a socket. */
#include "probe.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>

static void *load(void *lib)
{
	return dlopen(lib, RTLD_NOW | RTLD_GLOBAL);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	void *h = load(argv[1]);
	if (!h) {
		printf("dlopen failed: %s\n", dlerror());
		return 1;
	}
	pthread_t t;
	void *h2 = NULL;
	pthread_create(&t, NULL, load, argv[1]);
	pthread_join(t, &h2);
	int (*sock)(int, int, int) = (int (*)(int, int, int))dlsym(h, "socket");
	int fd = sock ? sock(AF_INET, SOCK_STREAM, 0) : -1;
	pid_t p = fork();
	if (p == 0)
		_exit(7);
	int st = 0;
	waitpid(p, &st, 0);
	printf("loaded=%d again=%d child=%d direct_socket_ka=%d\n", h != NULL, h2 == h, WEXITSTATUS(st), opt(fd, SOL_SOCKET, SO_KEEPALIVE));
	printf("PASS\n");
	return 0;
}
