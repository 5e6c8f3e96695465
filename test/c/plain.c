/* A library the loader takes, and nothing else: TestLoadCheck patches a copy
 * of it to need a glibc that does not exist. */
#include <stdio.h>
void ka_probe(void) { puts("x"); }
