/* launch [-n] [-b SIG]... [-p LIB] PROG [ARG]...: starts PROG the way some
 * parents do. -n leaves standard input, output and error non-blocking (as
 * node.js does); -b blocks a signal (as a supervisor may leave it); -p
 * preloads LIB into PROG only, not into launch itself; -v sets the address
 * space limit to KB kibibytes (ulimit -v), -d the data limit (ulimit -d),
 * -u the number of processes and threads of the user (ulimit -u). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int opt;
	sigset_t set;
	sigemptyset(&set);
	while ((opt = getopt(argc, argv, "+nb:p:v:d:u:")) != -1) {
		switch (opt) {
		case 'n':
			for (int fd = 0; fd < 3; fd++)
				fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
			break;
		case 'b':
			sigaddset(&set, atoi(optarg));
			break;
		case 'p':
			setenv("LD_PRELOAD", optarg, 1);
			break;
		case 'v': {
			struct rlimit rl = {atol(optarg) * 1024, atol(optarg) * 1024};
			setrlimit(RLIMIT_AS, &rl);
			break;
		}
		case 'd': {
			struct rlimit rl = {atol(optarg) * 1024, atol(optarg) * 1024};
			setrlimit(RLIMIT_DATA, &rl);
			break;
		}
		case 'u': {
			struct rlimit rl = {atol(optarg), atol(optarg)};
			setrlimit(RLIMIT_NPROC, &rl);
			break;
		}
		default:
			return 2;
		}
	}
	if (optind >= argc)
		return 2;
	sigprocmask(SIG_BLOCK, &set, NULL);
	execvp(argv[optind], argv + optind);
	perror("launch: exec");
	return 127;
}
