#include <sys/socket.h>

int early_fd = -1;

__attribute__((constructor(101))) static void open_early(void) { early_fd = socket(AF_INET6, SOCK_STREAM, 0); }
