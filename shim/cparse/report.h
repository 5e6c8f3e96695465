/* The library's messages, written from C with shim's words (rules.h), so
 * that a bad value is reported without ever starting the Go runtime inside a
 * host. shim's FuzzConfig and FuzzFile hold every line to Go's
 * Problem.Message(), byte for byte. */
#ifndef KA_REPORT_H
#define KA_REPORT_H

#include <stddef.h>

#include "parse.h"

/* The longest line: a cut path and value, quoted, and the longest words. */
#define KA_MSG_MAX 2048

/* Where the file settings came from, and how reading it went. */
struct ka_source {
	const char *path;
	int named;     /* the user chose the path: a missing file is a problem */
	int err;       /* errno of opening or reading it, 0 if read */
	unsigned kind; /* S_IFMT of a path that is not a regular file, else 0 */
	const char *text;
	size_t n;
};

typedef void (*ka_emit_fn)(void *ctx, const char *line);

/* ka_report calls emit once per problem, in Go's order: the file's, by
 * line, then the environment's, by variable. Returns how many. */
KA_HIDDEN int ka_report(const struct ka_source *src, const char *(*env)(const char *name), ka_emit_fn emit, void *ctx);

#endif
