/* The C reader of rules by destination, "to NETWORK [port PORT[-PORT]]
 * KEY=VALUE...", for the preload path; shim/dest.go is its Go twin, held to
 * it by the differential fuzz test (FuzzFile). No allocation, no locks. */
#ifndef KA_DEST_H
#define KA_DEST_H

#include <stddef.h>

#include "parse.h"

struct ka_dest {
	int line;                       /* of the file, set by ka_file_dests */
	int family;                     /* 0 for any, AF_INET, AF_INET6 */
	int bits;                       /* the prefix length */
	unsigned char addr[16];         /* the network, 4 bytes for IPv4 */
	unsigned port_lo, port_hi;      /* port_hi 0: every port */
	struct ka_config cfg;           /* the rule's own values */
};

/* Why a rule line is refused. */
enum ka_dest_why {
	KA_DEST_NO_NET = 1,
	KA_DEST_BAD_NET,
	KA_DEST_HOST_BITS,
	KA_DEST_BAD_PORT,
	KA_DEST_NO_VALUES,
	KA_DEST_BAD_WORD,
	KA_DEST_TWICE,
	KA_DEST_BAD_VALUE,
};

struct ka_dest_error {
	int why;         /* enum ka_dest_why */
	const char *tok; /* the word refused (not terminated) */
	size_t tlen;
	int var;  /* KA_DEST_TWICE, KA_DEST_BAD_VALUE: the variable */
	int vwhy; /* KA_DEST_BAD_VALUE: enum ka_why */
};

/* ka_is_dest: does the trimmed line (n bytes) start a rule? */
KA_HIDDEN int ka_is_dest(const char *line, size_t n);

/* ka_dest_parse reads a rule line into d; 0 with e saying why it is not
 * one. Uses a buffer of KA_FILE_MAX bytes on the stack: called when the
 * file is read, once per process, never per socket. */
KA_HIDDEN int ka_dest_parse(const char *line, size_t n, struct ka_dest *d, struct ka_dest_error *e);

/* ka_dest_matches: does a connection to addr (4 or 16 bytes by family,
 * IPv4-mapped IPv6 as IPv4) with the service port port fall under d? */
KA_HIDDEN int ka_dest_matches(const struct ka_dest *d, int family, const unsigned char *addr, unsigned port);

#endif
