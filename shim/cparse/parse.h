/* The C reader of the configuration, for the preload path, which must know
 * the values before the Go runtime is up (see preload/README.md). It follows
 * shim/value.go rule for rule; shim's differential fuzz test holds it there.
 * Everything here is async-signal-safe: no allocation, no locks, no libc
 * state beyond reading the strings it is given. */
#ifndef KA_PARSE_H
#define KA_PARSE_H

#include "rules.h"

#define KA_HIDDEN __attribute__((visibility("hidden")))

enum ka_state { KA_UNSET = 0, KA_OK = 1, KA_INVALID = 2 };

struct ka_config {
	int state[KA_NUM_VARS];       /* enum ka_state */
	long long value[KA_NUM_VARS]; /* in the rule's unit, when KA_OK */
};

/* ka_parse reads text (NULL or "" means unset) as variable var. */
KA_HIDDEN int ka_parse(int var, const char *text, long long *value);

/* ka_parse_why is ka_parse that also says why a value is refused
 * (enum ka_why, KA_WHY_NONE when it is not). */
KA_HIDDEN int ka_parse_why(int var, const char *text, long long *value, int *why);

#endif
