/* floor: a library that, like libkeepalive, calls dlsym. Built against the
 * machine's glibc (2.34 or later) it needs dlsym@GLIBC_2.34; against the
 * Debian 11 sysroot without -ldl it leaves dlsym to a libdl.so.2 that an old
 * host does not load. The glibc-floor tests use it as their controls. */
#define _GNU_SOURCE
#include <dlfcn.h>

void *floor_probe(void) { return dlsym(RTLD_NEXT, "socket"); }
