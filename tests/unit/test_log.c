/* Log lines: one message is one line, whatever text it quotes. */
#include "check.h"

#include "base/buf.h"
#include "base/log.h"

#include <ctype.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

/* What log_msg wrote to stderr (fd 2), read back from a temporary file. */
static void logged(enum log_format fmt, const char *msg, char *out, size_t size)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	if (!f || saved < 0 || dup2(fileno(f), STDERR_FILENO) < 0) {
		perror("test_log");
		exit(2);
	}
	log_setup(LOG_INFO, fmt);
	log_msg(LOG_ERROR, "%s", msg);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	size_t n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	fclose(f);
}

static void test_text_one_line(void)
{
	char out[512];
	logged(LOG_TEXT, "creds said: bad\nsfn-agent: forged line\r\x1b[31mred\x7f\tend", out, sizeof out);
	CHECK_STR(out, "sfn-agent: error: creds said: bad sfn-agent: forged line  [31mred \tend\n");
}

static void test_json_escapes(void)
{
	char out[512];
	logged(LOG_JSON, "a\nb", out, sizeof out);
	CHECK(strstr(out, "\"msg\":\"a\\nb\"}\n") != NULL);
	CHECK(strchr(out, '\n') == out + strlen(out) - 1);
}

/* C1 controls (U+0080..U+009F: U+009B is a one-character CSI for many
 * terminals), the line and paragraph separators, and bytes that are not
 * UTF-8 never reach stderr as they are, in either format. */
static void test_c1_filtered(void)
{
	char out[512];
	logged(LOG_TEXT, "a\xc2\x9b" "31mb\xc2\x85" "c\xe2\x80\xa8" "d\xe2\x80\xa9" "e\x9b" "f \xc3\xa9 \xe2\x82\xac", out,
	       sizeof out);
	CHECK(strstr(out, "\xc2\x9b") == NULL);
	CHECK(strstr(out, "\xc2\x85") == NULL);
	CHECK(strstr(out, "\xe2\x80\xa8") == NULL);
	CHECK(strstr(out, "\xe2\x80\xa9") == NULL);
	CHECK(strchr(out, '\x9b') == NULL);
	/* Printable text, accented letters included, stays. */
	CHECK(strstr(out, "31mb") != NULL);
	CHECK(strstr(out, "f \xc3\xa9 \xe2\x82\xac\n") != NULL);
	logged(LOG_JSON, "a\xc2\x9b" "b\xe2\x80\xa8" "c", out, sizeof out);
	CHECK(strstr(out, "\xc2\x9b") == NULL);
	CHECK(strstr(out, "\xe2\x80\xa8") == NULL);
	CHECK(strstr(out, "\"msg\":\"a\\u009bb\\u2028c\"}") != NULL);
}

/* The naive reading of the piece rule: some LOG_REDACT_PIECE-long window of
 * text equals, ignoring ASCII case, a piece of secret. */
static bool has_piece(const char *text, size_t n, const char *secret)
{
	size_t slen = strlen(secret);
	for (size_t i = 0; i + LOG_REDACT_PIECE <= n; i++)
		for (size_t j = 0; j + LOG_REDACT_PIECE <= slen; j++)
			if (strncasecmp(text + i, secret + j, LOG_REDACT_PIECE) == 0)
				return true;
	return false;
}

static void test_redact_piece_rule(void)
{
	const char *secret = "AQB8ZXhhbXBsZVNlY3JldFRva2VuRm9yVGVzdGluZ09ubHkxMjM0NTY3ODkwYWJjZGVm";
	struct buf b = BUF_INIT;
	/* A 20-character piece goes, a 15-character one stays. */
	buf_printf(&b, "x %.20s y %.15s z", secret + 9, secret + 40);
	log_redact(&b, secret, "#");
	char want[64];
	snprintf(want, sizeof want, "x # y %.15s z", secret + 40);
	CHECK_STR(buf_cstr(&b), want);
	/* In another case, it still goes. */
	buf_reset(&b);
	buf_puts(&b, "lower ");
	for (const char *p = secret; *p; p++)
		buf_putc(&b, (char)tolower((unsigned char)*p));
	log_redact(&b, secret, "#");
	CHECK_STR(buf_cstr(&b), "lower #");
	buf_free(&b);
}

/* Random texts made of pieces of a secret (some in another case) and of
 * noise: whatever the pieces, no window of the rule's length survives, and
 * a text without any is left as it is. */
static void test_redact_no_piece_survives(void)
{
	char secret[2049];
	unsigned seed = 12345;
	for (int round = 0; round < 200; round++) {
		/* A small alphabet, or a repetitive secret, makes pieces repeat. */
		size_t slen = round % 3 == 0 ? 2048 : 20 + (size_t)(rand_r(&seed) % 200);
		int alpha = round % 4 == 1 ? 2 : 62;
		for (size_t i = 0; i < slen; i++)
			secret[i] = "aBcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[rand_r(&seed) % alpha];
		secret[slen] = '\0';
		struct buf b = BUF_INIT;
		for (int k = 0; k < 8; k++) {
			size_t at = (size_t)rand_r(&seed) % slen, n = 1 + (size_t)rand_r(&seed) % 40;
			if (at + n > slen)
				n = slen - at;
			bool upper = rand_r(&seed) % 2;
			for (size_t i = 0; i < n; i++)
				buf_putc(&b, upper ? (char)toupper((unsigned char)secret[at + i]) : secret[at + i]);
			for (int i = rand_r(&seed) % 4; i > 0; i--)
				buf_putc(&b, '-');
		}
		char *before = xstrdup(buf_cstr(&b));
		bool had = has_piece(b.data, b.len, secret);
		log_redact(&b, secret, "#");
		CHECK(!has_piece(b.data, b.len, secret));
		if (!had)
			CHECK_STR(buf_cstr(&b), before);
		free(before);
		buf_free(&b);
	}
}

/* The secrets the process knows leave every line, in both formats. */
static void test_known_secrets_leave_lines(void)
{
	const char *session = "SESSIONTOKENsessiontokenSESSIONTOKEN0001";
	char msg[256], out[512];
	snprintf(msg, sizeof msg, "echoed %s and %s", session, "wjalrxutnfemi/k7mdeng/bpxrficyexamplekey");
	log_secret(LOG_SECRET_SESSION, session, "[session token]");
	log_secret(LOG_SECRET_KEY, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "[secret key]");
	logged(LOG_TEXT, msg, out, sizeof out);
	CHECK_STR(out, "sfn-agent: error: echoed [session token] and [secret key]\n");
	logged(LOG_JSON, msg, out, sizeof out);
	CHECK(strstr(out, "\"msg\":\"echoed [session token] and [secret key]\"}") != NULL);
	/* Emptied, a slot no longer redacts. */
	log_secret(LOG_SECRET_SESSION, NULL, NULL);
	logged(LOG_TEXT, msg, out, sizeof out);
	CHECK(strstr(out, session) != NULL);
	log_secret(LOG_SECRET_KEY, NULL, NULL);
}

int main(void)
{
	RUN(test_redact_piece_rule);
	RUN(test_redact_no_piece_survives);
	RUN(test_known_secrets_leave_lines);
	RUN(test_text_one_line);
	RUN(test_json_escapes);
	RUN(test_c1_filtered);
	return CHECK_DONE();
}
