/* How long redaction takes on the largest text a log line quotes: a 256 KiB
 * output (SendTaskSuccess's limit) against a 2,048-character task token (the
 * longest Step Functions issues), with the token in it a few times, and on a
 * text without it.  log_redact against the memmem scan it replaced (kept
 * below as the baseline: for each position, memmem of each longer piece).
 * A figure to read, not an assertion:
 *
 *   cc -O2 -I. -o build/redact-bench tests/bench/redact.c build/dev/libsfn.a -lcurl -lcjson -lcrypto
 *   build/redact-bench */
#include "base/buf.h"
#include "base/log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void memmem_redact(struct buf *text, const char *secret, const char *mark)
{
	size_t slen = strlen(secret);
	size_t piece = slen < LOG_REDACT_PIECE ? slen : LOG_REDACT_PIECE;
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < text->len;) {
		size_t n = 0;
		if (text->len - i >= piece && memmem(secret, slen, text->data + i, piece)) {
			n = piece;
			while (i + n < text->len && memmem(secret, slen, text->data + i, n + 1))
				n++;
		}
		if (n) {
			buf_puts(&out, mark);
			i += n;
		} else {
			buf_putc(&out, text->data[i++]);
		}
	}
	buf_reset(text);
	buf_append(text, out.data, out.len);
	buf_free(&out);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void fill(char *p, size_t n, unsigned *seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = b64[rand_r(seed) % 64];
}

static void run(const char *what, void (*fn)(struct buf *, const char *, const char *), const char *text,
		size_t n, const char *token)
{
	double best = 1e18;
	for (int r = 0; r < 3; r++) {
		struct buf b = BUF_INIT;
		buf_append(&b, text, n);
		double t0 = now_ms();
		fn(&b, token, "[token]");
		double t = now_ms() - t0;
		if (t < best)
			best = t;
		buf_free(&b);
	}
	printf("%-44s %10.2f ms\n", what, best);
}

int main(void)
{
	unsigned seed = 1;
	static char token[2049], text[256 * 1024], plain[256 * 1024];
	fill(token, 2048, &seed);
	fill(text, sizeof text, &seed);
	fill(plain, sizeof plain, &seed);
	for (int k = 1; k <= 4; k++)
		memcpy(text + k * 50000, token, 2048);
	run("log_redact, 256 KiB with the token 4 times", log_redact, text, sizeof text, token);
	run("log_redact, 256 KiB without the token", log_redact, plain, sizeof plain, token);
	run("memmem scan, 256 KiB with the token 4 times", memmem_redact, text, sizeof text, token);
	run("memmem scan, 256 KiB without the token", memmem_redact, plain, sizeof plain, token);
	return 0;
}
