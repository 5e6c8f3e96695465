#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "preload.h"

typedef int (*socket_fn)(int, int, int);

int socket(int domain, int type, int protocol)
{
	socket_fn real = (socket_fn)ka_real(KA_REAL_SOCKET);
	int fd = real ? real(domain, type, protocol) : (int)syscall(SYS_socket, domain, type, protocol);
	if (fd < 0 || !ka_wants(domain, type, protocol))
		return fd;
	struct ka_settings scratch;
	const struct ka_settings *s = ka_get(&scratch);
	/* With rules by destination, the destination decides: connect() and
	 * accept() configure the socket once it is known. */
	if (s->enabled && s->ndest)
		ka_forget(fd);
	else if (s->enabled)
		ka_configure(s, fd, domain, protocol, "socket");
	return fd;
}
