/* The STS AssumeRoleWithWebIdentity answer (agent/creds/web_identity.c:
 * creds_sts_parse): XML from the network, success or ErrorResponse. */
#include "fuzz.h"

#include "agent/creds/creds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const long statuses[] = { 200, 200, 200, 400, 403, 500, 503, 0 };
	long status = statuses[data[0] & 7];
	struct creds c = { 0 };
	struct err err = { "" };
	int rc = creds_sts_parse(span_of((const char *)data + 1, size - 1), status, &c, &err);
	if (rc == 0) {
		FUZZ_CHECK(status == 200);
		/* Present; a NUL inside a value may still leave a C string empty. */
		FUZZ_CHECK(c.access_key && c.secret_key && c.session_token);
	} else {
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(!c.access_key && !c.secret_key && !c.session_token);
		FUZZ_CHECK(err.msg[0] != '\0');
	}
	creds_clear(&c);
	return 0;
}
