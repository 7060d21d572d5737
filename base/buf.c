#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Noreturn void die_oom(void)
{
	static const char msg[] = "sfn-agent: out of memory\n";
	ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
	(void)r;
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die_oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die_oom();
	return p;
}

void *array_reserve(void *p, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap)
		return p;
	size_t want = *cap ? *cap : 8;
	while (want <= n)
		want *= 2;
	if (want > (size_t)-1 / elem)
		die_oom();
	*cap = want;
	return xrealloc(p, want * elem);
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die_oom();
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

struct span span_str(const char *s)
{
	return span_of(s, s ? strlen(s) : 0);
}

static void buf_reserve(struct buf *b, size_t extra)
{
	if (extra > (size_t)-1 / 2 - b->len)
		die_oom();
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_putc(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

char *tail_reserve(struct tail *t, size_t want)
{
	if (want > t->max)
		want = t->max;
	if (t->b.len + want > TAIL_SLACK * t->max) {
		/* Keep the newest max bytes: whatever the read then brings, the
		 * tail still holds the last max bytes of the stream. */
		size_t keep = t->b.len < t->max ? t->b.len : t->max;
		memmove(t->b.data, t->b.data + t->b.len - keep, keep);
		t->b.len = keep;
	}
	buf_reserve(&t->b, want);
	return t->b.data + t->b.len;
}

void tail_commit(struct tail *t, size_t n)
{
	t->b.len += n;
	t->b.data[t->b.len] = '\0';
	t->total += n;
}

void tail_append(struct tail *t, const void *p, size_t n)
{
	const char *s = p;
	if (n > t->max) {
		t->total += n - t->max;
		s += n - t->max;
		n = t->max;
	}
	memcpy(tail_reserve(t, n), s, n);
	tail_commit(t, n);
}

struct span tail_span(const struct tail *t)
{
	size_t n = t->b.len < t->max ? t->b.len : t->max;
	return span_of(t->b.data ? t->b.data + t->b.len - n : "", n);
}

int tail_truncated(const struct tail *t)
{
	return t->total > t->b.len || t->b.len > t->max;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_free_secret(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

char *buf_steal(struct buf *b)
{
	char *p = b->data ? b->data : xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

const char *buf_cstr(const struct buf *b)
{
	return b->data ? b->data : "";
}
