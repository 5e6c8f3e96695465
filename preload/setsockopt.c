#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "preload.h"

typedef int (*setsockopt_fn)(int, int, int, const void *, socklen_t);

int ka_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	setsockopt_fn real = (setsockopt_fn)ka_real(KA_REAL_SETSOCKOPT);
	return real ? real(fd, level, name, val, len) : (int)syscall(SYS_setsockopt, fd, level, name, val, len);
}

/* Wrapped only for KEEPALIVE=force: without it, one flag test and the real
 * call. */
int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (ka_keeps(fd, level, name, val, len))
		return 0;
	return ka_setsockopt(fd, level, name, val, len);
}
