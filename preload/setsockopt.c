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

/* Wrapped for KEEPALIVE=force, and for rules by destination, which
 * configure a socket at connect(): there the program's own options, set
 * before, must stay (ka_owned). Without either, one flag test and the real
 * call, and for a TCP option one more. */
int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (ka_keeps(fd, level, name, val, len))
		return 0;
	int r = ka_setsockopt(fd, level, name, val, len);
	if (r == 0)
		ka_owned(fd, level, name);
	return r;
}
