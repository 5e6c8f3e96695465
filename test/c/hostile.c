/* hostile MODE: a host that makes the library's life hard, the way real
 * daemons do. Prints PASS at the end when the host itself ran as it should.
 *   closed-stderr     closes descriptor 2, so socket() returns 2
 *   stderr-data FILE  closes descriptor 2 and opens FILE as 2, then socket()
 *   accept-guard      accept() with a 1-byte address buffer that ends a page
 *   argc0 PROG        runs PROG with argc == 0 (the kernel may add "")
 *   socket            opens one TCP socket and prints "hello" */
#include "probe.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>

/* keepalive is SO_KEEPALIVE as the kernel has it; -1 for no socket. */
static int keepalive(int fd) { return fd < 0 ? -1 : opt(fd, SOL_SOCKET, SO_KEEPALIVE); }

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	const char *mode = argv[1];
	if (strcmp(mode, "closed-stderr") == 0) {
		close(2);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		printf("fd=%d ka=%d\n", fd, keepalive(fd));
	} else if (strcmp(mode, "stderr-data") == 0 && argc > 2) {
		close(2);
		int data = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		printf("data=%d fd=%d ka=%d\n", data, fd, keepalive(fd));
		const char own[] = "the daemon's own data\n";
		if (write(data, own, sizeof own - 1) != (ssize_t)(sizeof own - 1))
			return 1;
	} else if (strcmp(mode, "accept-guard") == 0) {
		long page = sysconf(_SC_PAGESIZE);
		char *mem = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED || mprotect(mem + page, page, PROT_NONE) != 0)
			return 1;
		int l = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a;
		if (loopback_listen(l, &a))
			return 1;
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&a, sizeof a))
			return 1;
		socklen_t tiny = 1;
		int fd = accept(l, (struct sockaddr *)(mem + page - 1), &tiny);
		printf("accepted=%d len=%u ka=%d\n", fd >= 0, (unsigned)tiny, keepalive(fd));
	} else if (strcmp(mode, "argc0") == 0 && argc > 2) {
		char *none[] = {NULL};
		execve(argv[2], none, environ);
		perror("execve");
		return 127;
	} else if (strcmp(mode, "socket") == 0) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		printf("hello ka=%d\n", keepalive(fd));
	} else {
		return 2;
	}
	printf("PASS\n");
	return 0;
}
