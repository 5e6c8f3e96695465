/* libkeepalive's working part, all of it C: the host's own calls (socket,
 * accept, accept4, connect for rules by destination, and setsockopt for
 * KEEPALIVE=force), the settings and the
 * report of a bad one. The Go runtime of the c-shared build never starts
 * inside a host. See README.md in this directory for why. */
#ifndef KA_PRELOAD_H
#define KA_PRELOAD_H

#include <sys/socket.h>

#include "../shim/cparse/parse.h"

/* What the environment asked for, as the per-socket path uses it. */
struct ka_settings {
	int enabled; /* KEEPALIVE is not off */
	int forced;  /* KEEPALIVE=force: the operator's values over the program's */
	int debug;   /* KEEPALIVE_DEBUG is on and the process is not secure */
	int report;  /* something to tell the user, once, at load */
	int secure_debug; /* KEEPALIVE_DEBUG asked for in a secure process */
	int ndest;        /* rules by destination in the file: configure at connect and accept */
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
KA_HIDDEN void ka_accepted(int listener, int fd, int family);

/* ka_forget: fd is a new socket, not (yet) configured by the library. */
KA_HIDDEN void ka_forget(int fd);

/* ka_connected configures a TCP socket that connect() has started to
 * connect to addr, by the rules by destination (only called when there are
 * some); errno is left as it was. */
KA_HIDDEN void ka_connected(const struct ka_settings *s, int fd, const struct sockaddr *addr, socklen_t len);

/* ka_dests returns the rules by destination and their number, or NULL
 * before the settings are published (settings.c). */
struct ka_dest;
KA_HIDDEN const struct ka_dest *ka_dests(int *n);

/* ka_real returns libc's symbol name (the next one in the search order),
 * resolved once (resolve.c). */
KA_HIDDEN void *ka_real(int which);
enum { KA_REAL_SOCKET, KA_REAL_ACCEPT, KA_REAL_ACCEPT4, KA_REAL_SETSOCKOPT, KA_REAL_CONNECT, KA_NUM_REAL };

/* ka_setsockopt is the real setsockopt, for the library's own calls (the
 * name setsockopt is ours, for KEEPALIVE=force). */
KA_HIDDEN int ka_setsockopt(int fd, int level, int name, const void *val, socklen_t len);

/* ka_keeps: under KEEPALIVE=force, is this setsockopt call one that would
 * change an option the library set on fd? It then says so (debug) and the
 * caller returns success without making it. */
KA_HIDDEN int ka_keeps(int fd, int level, int name, const void *val, socklen_t len);

/* ka_owned: the program set a TCP option of the library's on fd itself;
 * under rules by destination, connect() then leaves it as the program set
 * it. */
KA_HIDDEN void ka_owned(int fd, int level, int name);

/* ka_write_line writes one line for the user where it cannot harm the
 * host (output.c): a debug line is dropped when descriptor 2 is not safe to
 * write, any other line then goes to syslog. */
KA_HIDDEN void ka_write_line(const char *s, int debug);

/* ka_output_init looks at descriptor 2 as the process starts. */
KA_HIDDEN void ka_output_init(void);

/* The configuration file as the settings read it (NULL before they are
 * read). */
struct ka_source;
KA_HIDDEN const struct ka_source *ka_source(void);

/* ka_env is getenv, as the C reader's merge and report take it: the
 * environment the settings were read from (settings.c). */
KA_HIDDEN const char *ka_env(const char *name);

#endif
