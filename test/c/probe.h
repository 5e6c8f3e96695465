/* Shared by the test drivers: read a socket's options back from the kernel. */
#ifndef PROBE_H
#define PROBE_H
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

__attribute__((unused)) static int opt(int fd, int level, int name)
{
	int v = -1;
	socklen_t n = sizeof v;
	if (getsockopt(fd, level, name, &v, &n) != 0)
		return -1000 - errno;
	return v;
}

/* describe writes "ka=1 idle=10 intvl=5 cnt=3 ut=3000": every value is the
 * kernel's answer to getsockopt, -1000-errno where it refuses. */
__attribute__((unused)) static char *describe(int fd, char *buf, size_t n)
{
	snprintf(buf, n, "ka=%d idle=%d intvl=%d cnt=%d ut=%d", opt(fd, SOL_SOCKET, SO_KEEPALIVE),
		 opt(fd, IPPROTO_TCP, TCP_KEEPIDLE), opt(fd, IPPROTO_TCP, TCP_KEEPINTVL),
		 opt(fd, IPPROTO_TCP, TCP_KEEPCNT), opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT));
	return buf;
}

/* loopback_listen binds l to a free port of 127.0.0.1 and listens; *a is
 * then the address to connect to. 0, or -1 with errno. */
__attribute__((unused)) static int loopback_listen(int l, struct sockaddr_in *a)
{
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof *a;
	*a = any;
	return bind(l, (struct sockaddr *)a, sizeof *a) || listen(l, 1) || getsockname(l, (struct sockaddr *)a, &al) ? -1 : 0;
}

/* ka_on is what a child process checks and reports through its exit status. */
__attribute__((unused)) static int ka_on(int fd) { return opt(fd, SOL_SOCKET, SO_KEEPALIVE) == 1; }

#include <dirent.h>

/* task_lines calls fn with each line of /proc/self/task/TID/status that
 * starts with prefix, for every thread of this process; returns the number of
 * threads. */
__attribute__((unused)) static int task_lines(const char *prefix, void (*fn)(const char *tid, const char *line, void *arg),
					      void *arg)
{
	int tasks = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[300], line[256];
		snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		tasks++;
		while (fgets(line, sizeof line, f))
			if (strncmp(line, prefix, strlen(prefix)) == 0)
				fn(e->d_name, line, arg);
		fclose(f);
	}
	if (d)
		closedir(d);
	return tasks;
}

#endif
