/* The credentials JSON of the ECS container endpoint and IMDS
 * (agent/creds/creds.c: creds_parse_json): an answer from the network. */
#include "fuzz.h"

#include "agent/creds/creds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct creds c = { 0 };
	struct err err = { "" };
	c.access_key = xstrdup("stale"); /* must be cleared, not leaked */
	int rc = creds_parse_json(span_of((const char *)data, size), &c, &err);
	if (rc == 0) {
		FUZZ_CHECK(c.access_key && c.secret_key);
	} else {
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(!c.access_key && !c.secret_key && !c.session_token);
		/* (It may quote the endpoint's message, newlines and all: the
		 * text log turns those into spaces.) */
		FUZZ_CHECK(err.msg[0] != '\0');
	}
	creds_clear(&c);
	return 0;
}
