/* early: a socket opened by another library's constructor (libearly.so,
 * linked in, so it is initialised before the preloaded library), and one
 * opened in the first statement of main(). */
#include "probe.h"

extern int early_fd;

int main(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char buf[256];
	printf("main %s\n", describe(fd, buf, sizeof buf));
	printf("constructor %s\n", describe(early_fd, buf, sizeof buf));
	printf("PASS\n");
	return 0;
}
