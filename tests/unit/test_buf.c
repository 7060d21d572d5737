/* struct buf and struct tail: the tail always holds exactly the newest
 * `max` bytes of the stream, however it is fed. */
#include "check.h"

#include "base/buf.h"

#include <stdlib.h>

/* A stream of known bytes: byte i is (i * 7 + i / 251) & 0xff. */
static char byte_at(unsigned long long i)
{
	return (char)((i * 7 + i / 251) & 0xff);
}

static void check_tail(const struct tail *t, unsigned long long total)
{
	struct span s = tail_span(t);
	size_t want = total < t->max ? (size_t)total : t->max;
	CHECK(s.len == want);
	CHECK(t->total == total);
	CHECK(!!tail_truncated(t) == (total > t->max));
	for (size_t k = 0; k < s.len; k++)
		if (s.ptr[k] != byte_at(total - s.len + k)) {
			CHECK(!"tail byte differs from the stream");
			return;
		}
}

static void test_tail_append_any_sizes(void)
{
	size_t maxes[] = { 1, 7, 1000, 4096, 65536 };
	for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
		struct tail t = { BUF_INIT, maxes[m], 0 };
		unsigned long long total = 0;
		char chunk[70000];
		srand(42);
		for (int round = 0; round < 400; round++) {
			size_t n = (size_t)rand() % (round % 10 == 0 ? sizeof chunk : 300);
			for (size_t k = 0; k < n; k++)
				chunk[k] = byte_at(total + k);
			tail_append(&t, chunk, n);
			total += n;
			check_tail(&t, total);
		}
		/* Never more than the slack allows. */
		CHECK(t.b.len <= TAIL_SLACK * t.max);
		buf_free(&t.b);
	}
}

static void test_tail_reserve_commit_short_reads(void)
{
	struct tail t = { BUF_INIT, 5000, 0 };
	unsigned long long total = 0;
	srand(7);
	for (int round = 0; round < 2000; round++) {
		size_t want = 1 + (size_t)rand() % 6000;
		char *p = tail_reserve(&t, want);
		/* A read returns anything from nothing to all that was asked. */
		size_t got = (size_t)rand() % ((want < t.max ? want : t.max) + 1);
		for (size_t k = 0; k < got; k++)
			p[k] = byte_at(total + k);
		tail_commit(&t, got);
		total += got;
		check_tail(&t, total);
	}
	buf_free(&t.b);
}

static void test_buf_printf_and_steal(void)
{
	struct buf b = BUF_INIT;
	CHECK_STR(buf_cstr(&b), "");
	buf_printf(&b, "%s-%d", "x", 42);
	buf_putc(&b, '!');
	CHECK(b.len == 5);
	CHECK_STR(buf_cstr(&b), "x-42!");
	char *s = buf_steal(&b);
	CHECK_STR(s, "x-42!");
	CHECK(b.data == NULL && b.len == 0);
	free(s);
}

int main(void)
{
	RUN(test_tail_append_any_sizes);
	RUN(test_tail_reserve_commit_short_reads);
	RUN(test_buf_printf_and_steal);
	return CHECK_DONE();
}
