/* Redacting a secret from text a server sent (base/log.c: log_redact): the
 * input is a secret, a NUL, then the text.  Whatever the text, no piece of
 * the secret of LOG_REDACT_PIECE characters (or the whole secret, when it is
 * shorter) may remain, and text with no such piece is left as it was. */
#include "fuzz.h"

#include "base/buf.h"
#include "base/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nul = memchr(data, '\0', size);
	/* The mark is \x01; a secret holding it could rebuild a piece. */
	if (!nul || memchr(data, '\x01', (size_t)(nul - (const char *)data)))
		return 0;
	size_t slen = (size_t)(nul - (const char *)data);
	char *secret = xstrndup((const char *)data, slen);
	const char *text = nul + 1;
	size_t tlen = size - slen - 1;
	struct buf b = BUF_INIT;
	buf_append(&b, text, tlen);
	log_redact(&b, secret, "\x01");
	size_t piece = slen < LOG_REDACT_PIECE ? slen : LOG_REDACT_PIECE;
	bool had = false;
	if (slen >= 8) {
		for (size_t i = 0; i + piece <= b.len; i++)
			FUZZ_CHECK(!memmem(secret, slen, b.data + i, piece));
		for (size_t i = 0; i + piece <= tlen && !had; i++)
			had = memmem(secret, slen, text + i, piece) != NULL;
	}
	if (!had)
		FUZZ_CHECK(b.len == tlen && (tlen == 0 || memcmp(b.data, text, tlen) == 0));
	buf_free(&b);
	free(secret);
	return 0;
}
