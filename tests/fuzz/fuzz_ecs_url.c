/* The allow-list of container credentials URLs (agent/creds_ecs.c:
 * creds_ecs_url_allowed): AWS_CONTAINER_CREDENTIALS_FULL_URI comes from the
 * task definition and decides where the task's credentials may be fetched. */
#include "fuzz.h"

#include "../../agent/creds.h"

#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = fuzz_cstr(data, size);
	struct err err = { "" };
	int rc = creds_ecs_url_allowed(url, &err);
	if (rc == 0) {
		FUZZ_CHECK(strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "http://", 7) == 0);
		/* Plain http never to a host named only by digits outside the list. */
		if (strncasecmp(url, "http://", 7) == 0) {
			FUZZ_CHECK(strncasecmp(url + 7, "169.254.169.254", 15) != 0);
			FUZZ_CHECK(strncasecmp(url + 7, "10.", 3) != 0);
		}
	} else {
		FUZZ_CHECK(rc == -1 && err.msg[0] != '\0');
	}
	free(url);
	return 0;
}
