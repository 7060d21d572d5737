/* One sentence about what went wrong, filled in where it is known and
 * printed once, by whoever decides the exit status. */
#ifndef SFN_ERR_H
#define SFN_ERR_H

struct err {
	char msg[1024];
};

/* Fills e (if not NULL) and returns -1, so that `return err_set(...)` reads
 * naturally at the point of failure. */
int err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
