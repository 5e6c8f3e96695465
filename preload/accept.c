#include <unistd.h>
#include <sys/syscall.h>

#include "preload.h"

/* ka_family is the peer address's family when the caller asked for the
 * address (most servers do), -1 otherwise: a UNIX connection is then let go
 * without a system call. The kernel returns the address's full length, which
 * can exceed the buffer the caller gave (it truncates): only the smaller of
 * the two is read. */
static int ka_family(const struct sockaddr *addr, socklen_t given, const socklen_t *len)
{
	if (addr == NULL || len == NULL)
		return -1;
	socklen_t have = *len < given ? *len : given;
	if (have < (socklen_t)sizeof addr->sa_family)
		return -1;
	return addr->sa_family;
}

/* given_len is the buffer's size as the caller passed it, read before the
 * call (the kernel overwrites it). Only read with an address buffer: with
 * none, the kernel ignores the length pointer and so must we. */
static socklen_t given_len(const struct sockaddr *addr, const socklen_t *len) { return addr && len ? *len : 0; }

/* i386 has no accept system call of its own (only socketcall and, since
 * Linux 4.3, accept4): there accept4 with no flags is accept. */
#ifndef SYS_accept
#define SYS_accept_call(fd, addr, len) syscall(SYS_accept4, fd, addr, len, 0)
#else
#define SYS_accept_call(fd, addr, len) syscall(SYS_accept, fd, addr, len)
#endif

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

int accept(int sockfd, struct sockaddr *addr, socklen_t *addrlen)
{
	accept_fn real = (accept_fn)ka_real(KA_REAL_ACCEPT);
	socklen_t given = given_len(addr, addrlen);
	int fd = real ? real(sockfd, addr, addrlen) : (int)SYS_accept_call(sockfd, addr, addrlen);
	if (fd >= 0)
		ka_accepted(sockfd, fd, ka_family(addr, given, addrlen));
	return fd;
}

int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	accept4_fn real = (accept4_fn)ka_real(KA_REAL_ACCEPT4);
	socklen_t given = given_len(addr, addrlen);
	int fd = real ? real(sockfd, addr, addrlen, flags) : (int)syscall(SYS_accept4, sockfd, addr, addrlen, flags);
	if (fd >= 0)
		ka_accepted(sockfd, fd, ka_family(addr, given, addrlen));
	return fd;
}
