/* A line built in a caller's buffer without snprintf, which is not
 * async-signal-safe: for the library's report, its syslog line and its debug
 * lines. The buffer always holds a terminated string; what does not fit is
 * cut. */
#ifndef KA_LINE_H
#define KA_LINE_H

#include <stddef.h>

#include "parse.h"

struct ka_line {
	char *buf;
	size_t cap, n;
};

/* ka_line_start makes l an empty line in buf (cap bytes, cap > 0). */
KA_HIDDEN void ka_line_start(struct ka_line *l, char *buf, size_t cap);
KA_HIDDEN void ka_put(struct ka_line *l, const char *s);
KA_HIDDEN void ka_put_n(struct ka_line *l, const char *s, size_t k);
KA_HIDDEN void ka_put_num(struct ka_line *l, long long v);

#endif
