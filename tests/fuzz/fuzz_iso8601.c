/* ISO 8601 times (agent/creds/creds.c: iso8601_parse_ms), as credentials
 * endpoints write their Expiration.  A parsed time printed back in UTC with
 * milliseconds parses to the same instant. */
#include "fuzz.h"

#include "agent/creds/creds.h"

#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t ms = 12345;
	int rc = iso8601_parse_ms(span_of((const char *)data, size), &ms);
	if (rc != 0) {
		FUZZ_CHECK(rc == -1 && ms == 12345);
		return 0;
	}
	int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	int frac = (int)(ms - secs * 1000);
	FUZZ_CHECK(frac >= 0 && frac < 1000);
	time_t t = (time_t)secs;
	struct tm tm;
	FUZZ_CHECK(gmtime_r(&t, &tm));
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return 0;
	char again[64];
	int n = snprintf(again, sizeof again, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	int64_t ms2 = 0;
	FUZZ_CHECK(iso8601_parse_ms(span_of(again, (size_t)n), &ms2) == 0);
	FUZZ_CHECK(ms2 == ms);
	return 0;
}
