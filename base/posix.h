/* Small POSIX helpers every layer uses. */
#ifndef SFN_POSIX_H
#define SFN_POSIX_H

#include <stddef.h>

/* Writes all n bytes of p to fd, going on after EINTR and short writes.
 * 0, or -1 with errno set (a write that returns 0 counts as EIO). */
int write_all(int fd, const void *p, size_t n);

/* "SIGTERM", "SIGRTMIN+3"; NULL for a number that is no signal. */
const char *signal_name(int sig);

#endif
