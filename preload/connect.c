#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "preload.h"

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

/* i386 before Linux 4.3 has connect only through socketcall; the raw call
 * is the fallback when libc's cannot be found, as for the others. */
#ifndef SYS_connect
#define SYS_connect_call(fd, addr, len) syscall(SYS_socketcall, 3, (long[]){fd, (long)addr, len})
#else
#define SYS_connect_call(fd, addr, len) syscall(SYS_connect, fd, addr, len)
#endif

/* Wrapped for rules by destination: without them, one flag test after the
 * real call. The address is read after the kernel has: a bad pointer is the
 * kernel's EFAULT to return, never our fault to take. */
int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	connect_fn real = (connect_fn)ka_real(KA_REAL_CONNECT);
	int r = real ? real(fd, addr, len) : (int)SYS_connect_call(fd, addr, len);
	if (r != 0 && errno != EINPROGRESS && errno != EINTR)
		return r;
	struct ka_settings scratch;
	const struct ka_settings *s = ka_get(&scratch);
	if (s->enabled && s->ndest)
		ka_connected(s, fd, addr, len);
	return r;
}
