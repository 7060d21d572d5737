/* Error answers of Step Functions and of whatever sits in front of it
 * (agent/sfn.c: sfn_parse_error): JSON 1.0 {"__type","message"} or XML
 * <Code>/<Message>.  The code and message end up in logs and decisions. */
#include "fuzz.h"

#include "agent/sfn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf body = BUF_INIT;
	buf_append(&body, data, size);
	struct sfn_reply r;
	memset(&r, 0x5a, sizeof r);
	sfn_parse_error(&body, &r);
	FUZZ_CHECK(memchr(r.code, '\0', sizeof r.code) && memchr(r.message, '\0', sizeof r.message));
	/* One line each, and the code without a namespace or a URL. */
	for (const char *p = r.code; *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != '#' && *p != ':' && *p != 0x7f);
	for (const char *p = r.message; *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20);
	if (size == 0)
		FUZZ_CHECK(!r.code[0] && !r.message[0]);
	buf_free(&body);
	return 0;
}
