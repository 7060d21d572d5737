/* The AWS shared config and credentials files (agent/creds/ini.c: ini_lookup,
 * ini_has_section).  Input: section NUL key NUL file text. */
#include "fuzz.h"

#include "agent/creds/ini.h"

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *z1 = memchr(p, '\0', size);
	if (!z1)
		return 0;
	const char *z2 = memchr(z1 + 1, '\0', size - (size_t)(z1 + 1 - p));
	if (!z2)
		return 0;
	char *section = xstrndup(p, (size_t)(z1 - p));
	char *key = xstrndup(z1 + 1, (size_t)(z2 - z1 - 1));
	struct span text = span_of(z2 + 1, size - (size_t)(z2 + 1 - p));

	struct buf out = BUF_INIT;
	buf_puts(&out, "untouched");
	int rc = ini_lookup(text, section, key, &out);
	if (rc == 1) {
		/* A value is one trimmed line of the text. */
		FUZZ_CHECK(!memchr(out.data ? out.data : "", '\n', out.len));
		if (out.len > 0) {
			FUZZ_CHECK(!blank(out.data[0]) && !blank(out.data[out.len - 1]));
			FUZZ_CHECK(memmem(text.ptr, text.len, out.data, out.len) != NULL);
		}
	} else {
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(out.len == 9 && memcmp(out.data, "untouched", 9) == 0);
	}
	int has = ini_has_section(text, section);
	FUZZ_CHECK(has == 0 || has == 1);
	/* No section, no value in it. */
	if (rc == 1)
		FUZZ_CHECK(has == 1);
	buf_free(&out);
	free(section);
	free(key);
	return 0;
}
