/* safety MODE: host behaviours a preloaded library must not disturb. It
 * prints facts (counts, statuses, the kernel's answers); the Go test compares
 * them between a run without the library and one with it. */
#include "probe.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/wait.h>


extern char **environ;

static int open_check_close(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int on = ka_on(fd);
	close(fd);
	return on;
}

/* fork_children forks n children that open a socket and report keepalive
 * through their exit status; returns how many had it, -1 if one failed. */
static int fork_children(int n)
{
	int ka = 0;
	for (int i = 0; i < n; i++) {
		pid_t p = fork();
		if (p == 0)
			_exit(open_check_close() == 1 ? 10 : 11);
		int st;
		if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st))
			return -1;
		ka += WEXITSTATUS(st) == 10;
	}
	return ka;
}

static volatile int stop;

static void *socket_loop(void *arg)
{
	long *counts = arg; /* [0] opened, [1] with keepalive */
	while (!stop) {
		int r = open_check_close();
		counts[0]++;
		counts[1] += r == 1;
	}
	return NULL;
}

static int mode_fork_mt(void)
{
	pthread_t t[4];
	long counts[4][2] = {{0}};
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, socket_loop, counts[i]);
	int ka = fork_children(100);
	stop = 1;
	long opened = 0, on = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		opened += counts[i][0];
		on += counts[i][1];
	}
	printf("children=100 child_ka=%d thread_sockets_all_ka=%d\n", ka, opened == on && opened > 0);
	return 0;
}

struct forker {
	int n, ka;
};

static void *fork_loop(void *arg)
{
	struct forker *f = arg;
	f->ka = fork_children(f->n);
	return NULL;
}

static void *socket_burst(void *arg)
{
	long *counts = arg;
	for (int i = 0; i < 500; i++) {
		int r = open_check_close();
		counts[0]++;
		counts[1] += r == 1;
	}
	return NULL;
}

static int mode_threads_fork(void)
{
	pthread_t t[16], ft[2];
	long counts[16][2] = {{0}};
	struct forker f[2] = {{25, 0}, {25, 0}};
	for (int i = 0; i < 2; i++)
		pthread_create(&ft[i], NULL, fork_loop, &f[i]);
	for (int i = 0; i < 16; i++)
		pthread_create(&t[i], NULL, socket_burst, counts[i]);
	long opened = 0, on = 0;
	for (int i = 0; i < 16; i++) {
		pthread_join(t[i], NULL);
		opened += counts[i][0];
		on += counts[i][1];
	}
	for (int i = 0; i < 2; i++)
		pthread_join(ft[i], NULL);
	printf("sockets=%ld ka=%ld children=50 child_ka=%d\n", opened, on, f[0].ka < 0 || f[1].ka < 0 ? -1 : f[0].ka + f[1].ka);
	return 0;
}

static volatile long handler_sockets, handler_ka;

static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	int r = open_check_close();
	handler_sockets++;
	handler_ka += r == 1;
	errno = saved;
}

static int mode_sighandler(int small_stack)
{
	struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
	/* A small alternate signal stack: the kernel's minimum for this CPU
	 * (its signal frame alone is about 12 KiB with AMX state) and 2 KiB
	 * more for the handler, which the wrapper's frames must fit in. */
	if (small_stack) {
		size_t size = (size_t)sysconf(_SC_MINSIGSTKSZ) + 2048;
		stack_t ss = {.ss_sp = malloc(size), .ss_size = size};
		if (ss.ss_sp == NULL || sigaltstack(&ss, NULL) != 0)
			return 1;
		sa.sa_flags |= SA_ONSTACK;
	}
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 200}, {0, 200}};
	setitimer(ITIMER_REAL, &it, NULL);
	long main_sockets = 0, main_ka = 0, errno_bad = 0;
	while (main_sockets < 100000 || handler_sockets < 200) {
		errno = 777;
		int fd = socket(AF_INET6, SOCK_STREAM, 0);
		if (errno != 777)
			errno_bad++;
		main_ka += ka_on(fd);
		main_sockets++;
		close(fd);
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	printf("handler_all_ka=%d main_all_ka=%d main_none_ka=%d handler_none_ka=%d errno_bad=%ld\n",
	       handler_ka == handler_sockets, main_ka == main_sockets, main_ka == 0, handler_ka == 0, errno_bad);
	return 0;
}

static int mode_daemon(const char *result)
{
	pid_t p = fork();
	if (p < 0)
		return 1;
	if (p > 0) {
		int st;
		waitpid(p, &st, 0);
		printf("first child status=%d\n", WEXITSTATUS(st));
		return 0;
	}
	setsid();
	if (fork() != 0)
		_exit(0);
	if (chdir("/") != 0)
		_exit(1);
	umask(0);
	for (int fd = 0; fd < 1024; fd++)
		close(fd);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int s6 = socket(AF_INET6, SOCK_STREAM, 0);
	char line[128];
	snprintf(line, sizeof line, "daemon fd=%d ka=%d ka6=%d\n", s, opt(s, SOL_SOCKET, SO_KEEPALIVE), opt(s6, SOL_SOCKET, SO_KEEPALIVE));
	int out = open(result, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (write(out, line, strlen(line)) < 0)
		_exit(1);
	close(out);
	_exit(0);
}

static void *wait_forever(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

struct uid_count {
	int uid, switched;
};

static void count_uid(const char *tid, const char *line, void *arg)
{
	(void)tid;
	struct uid_count *u = arg;
	int a, b, c, x;
	if (sscanf(line, "Uid: %d %d %d %d", &a, &b, &c, &x) == 4 && a == u->uid && b == u->uid && c == u->uid && x == u->uid)
		u->switched++;
}

/* Counts the tasks of this process, and those whose real, effective, saved
 * and filesystem uids are all uid. */
static void count_uids(int uid, int *tasks, int *switched)
{
	struct uid_count u = {uid, 0};
	*tasks = task_lines("Uid:", count_uid, &u);
	*switched = u.switched;
}

static int mode_setuid(int use_setuid)
{
	if (geteuid() != 0) {
		printf("SKIP setuid needs root\n");
		return 0;
	}
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, wait_forever, NULL);
	int r = use_setuid ? setuid(65534) : setresuid(65534, 65534, 65534);
	int tasks, switched;
	count_uids(65534, &tasks, &switched);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	printf("ret=%d all_switched=%d ka=%d\n", r, tasks == switched && tasks >= 4, opt(fd, SOL_SOCKET, SO_KEEPALIVE));
	fprintf(stderr, "tasks=%d switched=%d\n", tasks, switched);
	return 0;
}

static int mode_spawn(void)
{
	int st;
	pid_t p = vfork();
	if (p == 0) {
		execl("/bin/sh", "sh", "-c", "exit 3", (char *)NULL);
		_exit(127);
	}
	waitpid(p, &st, 0);
	printf("vfork status=%d\n", WEXITSTATUS(st));

	char *argv[] = {"sh", "-c", "exit 4", NULL};
	if (posix_spawn(&p, "/bin/sh", NULL, NULL, argv, environ) == 0 && waitpid(p, &st, 0) == p)
		printf("posix_spawn status=%d\n", WEXITSTATUS(st));
	else
		printf("posix_spawn failed\n");

	st = system("exit 5");
	printf("system status=%d\n", WEXITSTATUS(st));

	FILE *f = popen("echo popen-ok; exit 6", "r");
	char line[64] = "";
	if (f && fgets(line, sizeof line, f))
		line[strcspn(line, "\n")] = 0;
	st = f ? pclose(f) : -1;
	printf("popen read=%s status=%d\n", line, WEXITSTATUS(st));
	return 0;
}

/* Lists this process's descriptors and what they are, after the library's
 * runtime has had time to start. */
static int mode_fds(void)
{
	usleep(200000);
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		char path[300], target[256] = "";
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof target - 1);
		target[n > 0 ? n : 0] = 0;
		/* pipe:[inode] and socket:[inode] differ from run to run. */
		char *bracket = strchr(target, '[');
		if (bracket)
			*bracket = 0;
		printf("fd %s %s\n", e->d_name, target);
	}
	if (d)
		closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int r = 2;
	if (strcmp(mode, "fork") == 0) {
		printf("children=20 child_ka=%d\n", fork_children(20));
		r = 0;
	} else if (strcmp(mode, "fork-mt") == 0)
		r = mode_fork_mt();
	else if (strcmp(mode, "threads-fork") == 0)
		r = mode_threads_fork();
	else if (strcmp(mode, "sighandler") == 0)
		r = mode_sighandler(0);
	else if (strcmp(mode, "sighandler-altstack") == 0)
		r = mode_sighandler(1);
	else if (strcmp(mode, "daemon") == 0 && argc > 2)
		r = mode_daemon(argv[2]);
	else if (strcmp(mode, "setuid") == 0)
		r = mode_setuid(1);
	else if (strcmp(mode, "setresuid") == 0)
		r = mode_setuid(0);
	else if (strcmp(mode, "spawn") == 0)
		r = mode_spawn();
	else if (strcmp(mode, "fds") == 0)
		r = mode_fds();
	else
		fprintf(stderr, "usage: safety fork|fork-mt|threads-fork|sighandler|daemon FILE|setuid|setresuid|spawn|fds\n");
	if (r == 0)
		printf("PASS\n");
	fflush(stdout);
	return r;
}
