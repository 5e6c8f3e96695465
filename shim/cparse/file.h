/* The C reader of the configuration file (/etc/keepalive.conf), for the
 * preload path; shim/file.go is its Go twin, held to it by a differential
 * fuzz test. Async-signal-safe like parse.h: no allocation, no locks. */
#ifndef KA_FILE_H
#define KA_FILE_H

#include <stddef.h>

#include "parse.h"

/* KA_FILE_MAX (rules.h): longer files are refused whole. */
struct ka_file {
	char buf[KA_FILE_MAX + 1];
	const char *value[KA_NUM_VARS]; /* the last line's value, NULL if none */
	const char *exclude;            /* KEEPALIVE_EXCLUDE, NULL if none */
	int problems;                   /* lines or values the user must hear about */
	int ndest;                      /* rules by destination read (dest.h) */
};

/* One line of a configuration file, as shim.ParseFile sees it: trimmed of
 * a trailing CR and of spaces and tabs, key and value cut at the first '='
 * and trimmed again. */
struct ka_file_line {
	const char *key, *value; /* not terminated */
	size_t klen, vlen;
	const char *text; /* the whole trimmed line, not terminated */
	size_t len;
	int has_eq, empty; /* empty: blank or a comment */
};

/* ka_file_line reads the line starting at p (p <= end) into l and returns
 * where the next one starts: past end after the last, so that a walk is
 * for (p = text; p <= end;) p = ka_file_line(p, end, &l). */
KA_HIDDEN const char *ka_file_line(const char *p, const char *end, struct ka_file_line *l);

/* ka_file_key: the line's key as 0..KA_NUM_VARS-1 for a variable,
 * KA_NUM_VARS for the exclude list, -1 for no setting. */
KA_HIDDEN int ka_file_key(const struct ka_file_line *l);

/* ka_file_parse reads n bytes of text into f. */
KA_HIDDEN void ka_file_parse(struct ka_file *f, const char *text, size_t n);

/* ka_config_merge fills c: a variable set (not empty) in the environment wins
 * over the file. Returns 1 if anything is to be reported. */
KA_HIDDEN int ka_config_merge(struct ka_config *c, const struct ka_file *f, const char *(*env)(const char *name));

/* ka_file_read reads the file at path the safe way: opened non-blocking
 * and never as a controlling terminal, and only if it is a regular file (a
 * FIFO with no writer would hang the host, /dev/stdin would eat its input).
 * At most cap bytes go into text. Returns 0, or the errno of opening or
 * reading it; *kind is the S_IFMT of a path that is not a regular file,
 * else 0. One open, one read loop: the file is read once per process. */
KA_HIDDEN int ka_file_read(const char *path, char *text, size_t cap, size_t *n, unsigned *kind);

/* ka_file_dests reads the rules by destination of n bytes of text into
 * out, at most max (KA_DEST_MAX), in order; the bad ones are left out, as
 * ka_file_parse counts them. Returns how many. */
struct ka_dest;
KA_HIDDEN int ka_file_dests(const char *text, size_t n, struct ka_dest *out, int max);

/* ka_excluded: is name one of the words of the exclude list? */
KA_HIDDEN int ka_excluded(const char *list, const char *name);

#endif
