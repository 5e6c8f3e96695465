/* The real calls: libc's socket, accept, accept4, setsockopt and connect, the next
 * definitions after this library's own, resolved once. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include "preload.h"

static const char *const real_names[KA_NUM_REAL] = {"socket", "accept", "accept4", "setsockopt", "connect"};
static void *real_fns[KA_NUM_REAL];
static int real_state[KA_NUM_REAL]; /* 0 unresolved, 1 resolved (maybe NULL) */

static void say_unresolved(const char *name, const char *why)
{
	char line[512] = "libkeepalive: cannot find the real ";
	strncat(line, name, 32);
	strcat(line, "() after this library (");
	strncat(line, why ? why : "unknown reason", 300);
	strcat(line, "); calling the kernel directly");
	ka_write_line(line, 0);
}

/* Resolution happens in our first constructor, before the host can have a
 * signal handler calling in; only a socket opened by an earlier library's
 * constructor resolves lazily, and dlsym is safe there. */
void *ka_real(int which)
{
	if (__atomic_load_n(&real_state[which], __ATOMIC_ACQUIRE))
		return real_fns[which];
	int saved = errno;
	void *fn = dlsym(RTLD_NEXT, real_names[which]);
	/* Our own definitions, as the host's calls reach them: the next one
	 * must not be one of these. (A comparison, not dladdr, which costs
	 * about 20 us per call on this library and would be paid by every
	 * process.) */
	void *const self[KA_NUM_REAL] = {(void *)&socket, (void *)&accept, (void *)&accept4, (void *)&setsockopt,
						(void *)&connect};
	if (fn == NULL) {
		say_unresolved(real_names[which], dlerror());
	} else if (fn == self[which]) {
		say_unresolved(real_names[which], "dlsym returned this library's own symbol");
		fn = NULL;
	}
	real_fns[which] = fn;
	__atomic_store_n(&real_state[which], 1, __ATOMIC_RELEASE);
	errno = saved;
	return fn;
}
