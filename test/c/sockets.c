/* sockets: opens one socket of every kind the filter must tell apart and
 * prints what the kernel says of each; then the errno contract of socket(). */
#include "probe.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>


#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static const struct {
	const char *name;
	int domain, type, protocol;
} kinds[] = {
	{"inet_stream", AF_INET, SOCK_STREAM, 0},
	{"inet6_stream", AF_INET6, SOCK_STREAM, 0},
	{"inet_stream_tcp", AF_INET, SOCK_STREAM, IPPROTO_TCP},
	{"inet6_stream_tcp", AF_INET6, SOCK_STREAM, IPPROTO_TCP},
	{"inet_stream_nonblock", AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0},
	{"inet_stream_cloexec", AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0},
	{"inet6_stream_nonblock_cloexec", AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP},
	{"inet_mptcp", AF_INET, SOCK_STREAM, IPPROTO_MPTCP},
	{"inet6_mptcp", AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP},
	{"inet_dgram", AF_INET, SOCK_DGRAM, 0},
	{"inet6_dgram", AF_INET6, SOCK_DGRAM, 0},
	{"inet_raw", AF_INET, SOCK_RAW, IPPROTO_TCP},
	{"inet_sctp_stream", AF_INET, SOCK_STREAM, IPPROTO_SCTP},
	{"inet_sctp_seqpacket", AF_INET, SOCK_SEQPACKET, IPPROTO_SCTP},
	{"unix_stream", AF_UNIX, SOCK_STREAM, 0},
	{"unix_seqpacket", AF_UNIX, SOCK_SEQPACKET, 0},
	{"unix_dgram", AF_UNIX, SOCK_DGRAM, 0},
	{"netlink", AF_NETLINK, SOCK_RAW, 0},
};

int main(void)
{
	char buf[256];
	for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		errno = 4242;
		int fd = socket(kinds[i].domain, kinds[i].type, kinds[i].protocol);
		int e = errno;
		if (fd < 0) {
			printf("%s unavailable errno=%d\n", kinds[i].name, e);
			continue;
		}
		printf("%s %s errno=%d\n", kinds[i].name, describe(fd, buf, sizeof buf), e);
		close(fd);
	}

	/* Failures: the same return value and errno as libc's. */
	errno = 0;
	int r = socket(12345, SOCK_STREAM, 0);
	printf("bad_domain ret=%d errno=%d\n", r, errno);
	errno = 0;
	r = socket(AF_INET, 999, 0);
	printf("bad_type ret=%d errno=%d\n", r, errno);
	errno = 0;
	r = socket(AF_INET, SOCK_STREAM, 99);
	printf("bad_protocol ret=%d errno=%d\n", r, errno);

	/* Out of descriptors. */
	struct rlimit rl = {16, 16};
	setrlimit(RLIMIT_NOFILE, &rl);
	int last = 0, n = 0;
	for (;;) {
		errno = 0;
		r = socket(AF_INET, SOCK_STREAM, 0);
		if (r < 0)
			break;
		last = r;
		n++;
	}
	printf("emfile ret=%d errno=%d opened=%d last=%d\n", r, errno, n, last);
	printf("PASS\n");
	return 0;
}
