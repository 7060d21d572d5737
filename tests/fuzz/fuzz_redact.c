/* Redacting a secret from text a server sent (base/log.c: log_redact): the
 * input is a secret, a NUL, then the text.  Whatever the text, no piece of
 * the secret of LOG_REDACT_PIECE characters (or the whole secret, when it is
 * shorter) may remain, in any ASCII case, and text with no such piece is
 * left as it was. */
#include "fuzz.h"

#include "base/buf.h"
#include "base/log.h"

#include <ctype.h>

/* memmem(secret, piece of text), ignoring ASCII case as log_redact does. */
static bool has_piece(const char *secret, size_t slen, const char *p, size_t piece)
{
	for (size_t j = 0; j + piece <= slen; j++) {
		size_t k = 0;
		while (k < piece && tolower((unsigned char)secret[j + k]) == tolower((unsigned char)p[k]))
			k++;
		if (k == piece)
			return true;
	}
	return false;
}

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
			FUZZ_CHECK(!has_piece(secret, slen, b.data + i, piece));
		for (size_t i = 0; i + piece <= tlen && !had; i++)
			had = has_piece(secret, slen, text + i, piece);
	}
	if (!had)
		FUZZ_CHECK(b.len == tlen && (tlen == 0 || memcmp(b.data, text, tlen) == 0));
	buf_free(&b);
	free(secret);
	return 0;
}
