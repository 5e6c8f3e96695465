/* The C half of libkeepalive: everything that runs inside the host's own
 * calls (socket, accept, accept4) and before the Go runtime starts. See
 * README.md in this directory for why it is C. */
#ifndef KA_PRELOAD_H
#define KA_PRELOAD_H

#include <sys/socket.h>

#include "../shim/cparse/parse.h"

/* What the environment asked for, as the per-socket path uses it. */
struct ka_settings {
	int enabled; /* KEEPALIVE is not off */
	int debug;   /* KEEPALIVE_DEBUG is on and the process is not secure */
	int report;  /* something for the Go side to tell the user */
	int file_problems; /* of them, in the configuration file */
	struct ka_config cfg;
};

/* ka_get returns the settings, reading them first if no one has yet (a
 * socket opened by another library's constructor before ours ran). scratch
 * holds them in that case. Async-signal-safe once the constructor ran. */
KA_HIDDEN const struct ka_settings *ka_get(struct ka_settings *scratch);

/* ka_wants: is this socket() call one we configure? */
KA_HIDDEN int ka_wants(int domain, int type, int protocol);

/* ka_configure sets the options on fd; errno is left as it was. */
KA_HIDDEN void ka_configure(const struct ka_settings *s, int fd, int domain, int protocol, const char *how);

/* ka_accepted configures a socket returned by accept/accept4 unless it
 * already inherited keepalive from its listener; family is the peer
 * address's, or -1 when unknown. */
KA_HIDDEN void ka_accepted(int fd, int family);

/* ka_real returns libc's symbol name (the next one in the search order),
 * resolved once. */
KA_HIDDEN void *ka_real(int which);
enum { KA_REAL_SOCKET, KA_REAL_ACCEPT, KA_REAL_ACCEPT4, KA_NUM_REAL };

/* ka_write_line writes a line to stderr with write(2). */
KA_HIDDEN void ka_write_line(const char *s);

/* The configuration file: its path, and its text read into text (at most
 * cap bytes); returns 0 or the errno of open. */
KA_HIDDEN const char *ka_config_path(void);
KA_HIDDEN int ka_config_text(char *text, size_t cap, size_t *n);

/* For Go's report: the file as the constructor read it, before the runtime
 * started, so that the runtime opens no file while the host runs. */
const char *ka_report_file(size_t *n, int *err);

/* Called by Go's init when it has printed its report. */
void ka_reported(void);
/* 1 in a secure-execution process (setuid, setgid, capabilities). */
int ka_secure(void);

#endif
