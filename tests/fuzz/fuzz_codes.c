/* --exit-code-map and --success-codes (wrapper/result.c), and the error
 * name check behind --error.  Input: selector byte, then the text. */
#include "fuzz.h"

#include "wrapper/result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *s = fuzz_cstr(data + 1, size - 1);
	struct err err = { "" };
	switch (data[0] % 3) {
	case 0: {
		struct exit_code_map *m = (void *)1;
		size_t n = 99;
		if (exit_code_map_parse(s, &m, &n, &err) == 0) {
			FUZZ_CHECK(n == 0 ? m == NULL : m != NULL);
			for (size_t i = 0; i < n; i++) {
				struct err e;
				FUZZ_CHECK(m[i].code >= 0 && m[i].code <= 255);
				FUZZ_CHECK(error_name_validate(m[i].error, "x", &e) == 0);
				for (size_t j = 0; j < i; j++)
					FUZZ_CHECK(m[j].code != m[i].code);
			}
			exit_code_map_free(m, n);
		} else {
			FUZZ_CHECK(m == NULL && n == 0 && err.msg[0]);
		}
		break;
	}
	case 1: {
		int *c = (void *)1;
		size_t n = 99;
		if (success_codes_parse(s, &c, &n, &err) == 0) {
			FUZZ_CHECK(n > 0 && c != NULL);
			for (size_t i = 0; i < n; i++)
				FUZZ_CHECK(c[i] >= 0 && c[i] <= 255);
			free(c);
		} else {
			FUZZ_CHECK(c == NULL && n == 0 && err.msg[0]);
		}
		break;
	}
	case 2:
		if (error_name_validate(s, "--error", &err) == 0) {
			/* 1 to 256 characters, and it fits struct report whole. */
			size_t chars = 0;
			for (const char *p = s; *p; p++)
				chars += ((unsigned char)*p & 0xc0) != 0x80;
			FUZZ_CHECK(chars >= 1 && chars <= ERROR_NAME_MAX);
			FUZZ_CHECK(strlen(s) < sizeof ((struct report *)0)->error);
			FUZZ_CHECK(fuzz_utf8_valid(s, strlen(s)));
		} else
			FUZZ_CHECK(err.msg[0]);
		break;
	}
	free(s);
	return 0;
}
