/* State machine definitions (agent/asl/asl.c: asl_check), as `check` and
 * `start` read them from a file or from Step Functions.  Input: one byte of
 * options, then the definition. */
#include "fuzz.h"

#include "agent/asl/asl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct asl_options opt = { data[0] & 0x80 ? 0 : (data[0] & 0x7f), data[0] & 1 ? "TASK_TOKEN" : "TOKEN" };
	struct asl_report rep;
	struct err err = { "" };
	memset(&rep, 0x5a, sizeof rep);
	int rc = asl_check((const char *)data + 1, size - 1, data[0] & 2 ? &opt : NULL, &rep, &err);
	if (rc == 0) {
		FUZZ_CHECK(rep.n == 0 || rep.findings);
		for (size_t i = 0; i < rep.n; i++) {
			FUZZ_CHECK(rep.findings[i].text && rep.findings[i].text[0]);
			FUZZ_CHECK(rep.findings[i].state);
			FUZZ_CHECK((int)rep.findings[i].problem >= ASL_NO_TIMEOUT &&
				   rep.findings[i].problem <= ASL_OVERRIDES_SIZE); /* the IAM ones come from check, not asl_check */
		}
		FUZZ_CHECK(rep.n == 0 || rep.tasks + rep.sync_tasks > 0); /* findings come from ECS Task states */
		asl_report_free(&rep);
	} else {
		FUZZ_CHECK(rc == -1 && err.msg[0] != '\0');
	}
	return 0;
}
