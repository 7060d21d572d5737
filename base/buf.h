/* Growable byte buffers (owned) and spans (borrowed views).
 *
 * Every owned byte sequence in the program is a struct buf; anything that
 * only looks at bytes someone else owns is a struct span.  A buf's data is
 * always NUL-terminated once it holds anything, so it can be handed to C
 * string functions, but its length is authoritative (it may contain NULs).
 *
 * Allocation failure is fatal: the agent prints one line and aborts.  There is
 * nothing sensible to do with half a buffer, and checking every append would
 * hide the real logic. */
#ifndef SFN_BUF_H
#define SFN_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

struct span {
	const char *ptr;
	size_t len;
};

#define BUF_INIT { NULL, 0, 0 }

static inline struct span span_of(const char *s, size_t n)
{
	struct span sp = { s, n };
	return sp;
}
struct span span_str(const char *s);

void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* buf_free for secrets (keys, tokens, credentials answers): zeroes them first. */
void buf_free_secret(struct buf *b);
/* Hands the data to the caller (NUL-terminated, never NULL) and empties b. */
char *buf_steal(struct buf *b);
/* A NUL-terminated view; "" for an empty buffer. */
const char *buf_cstr(const struct buf *b);

/* The last `max` bytes of a stream.  The buffer may grow to TAIL_SLACK
 * times the limit before the newest `max` bytes are moved to its front, so
 * keeping a tail costs well under one copy per byte; and the relay reads
 * straight into it (tail_reserve/tail_commit), so it costs no other copy. */
#define TAIL_SLACK 4
struct tail {
	struct buf b;
	size_t max;
	unsigned long long total; /* bytes ever appended */
};

void tail_append(struct tail *t, const void *p, size_t n);
/* Room for up to `want` (at most max) more bytes at the end of the tail, to
 * read into; then tail_commit() the number of bytes actually put there. */
char *tail_reserve(struct tail *t, size_t want);
void tail_commit(struct tail *t, size_t n);
/* The kept bytes: at most max, the newest ones. */
struct span tail_span(const struct tail *t);
/* True when bytes were dropped from the front. */
int tail_truncated(const struct tail *t);

/* Growable arrays: room for element n (the n+1st) of an array whose capacity
 * is *cap, doubling from 8; returns the array, perhaps moved.  The one way
 * arrays grow here:  v = array_reserve(v, n, &cap, sizeof *v); v[n++] = x; */
void *array_reserve(void *p, size_t n, size_t *cap, size_t elem);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
_Noreturn void die_oom(void);

#endif
