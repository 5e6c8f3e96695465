#include <unistd.h>
#include <sys/syscall.h>

#include "preload.h"

/* ka_family is the peer address's family when the caller asked for the
 * address (most servers do), -1 otherwise: a UNIX connection is then let go
 * without a system call. */
static int ka_family(const struct sockaddr *addr, const socklen_t *len)
{
	if (addr == NULL || len == NULL || *len < (socklen_t)sizeof addr->sa_family)
		return -1;
	return addr->sa_family;
}

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

int accept(int sockfd, struct sockaddr *addr, socklen_t *addrlen)
{
	accept_fn real = (accept_fn)ka_real(KA_REAL_ACCEPT);
	int fd = real ? real(sockfd, addr, addrlen) : (int)syscall(SYS_accept, sockfd, addr, addrlen);
	if (fd >= 0)
		ka_accepted(fd, ka_family(addr, addrlen));
	return fd;
}

int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	accept4_fn real = (accept4_fn)ka_real(KA_REAL_ACCEPT4);
	int fd = real ? real(sockfd, addr, addrlen, flags) : (int)syscall(SYS_accept4, sockfd, addr, addrlen, flags);
	if (fd >= 0)
		ka_accepted(fd, ka_family(addr, addrlen));
	return fd;
}
