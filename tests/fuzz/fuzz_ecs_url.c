/* The allow-list of container credentials URLs (agent/creds/ecs.c:
 * creds_ecs_url_allowed): AWS_CONTAINER_CREDENTIALS_FULL_URI comes from the
 * task definition and decides where the task's credentials may be fetched. */
#include "fuzz.h"

#include "agent/creds/creds.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <strings.h>

/* Where curl, which makes the request, would connect: an allowed host when
 * the agent said yes to plain http. */
static bool curl_host_allowed(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	bool ok = true;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		unsigned char a[16];
		size_t n = strlen(host);
		if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
			static const unsigned char loop6[16] = { [15] = 1 };
			static const unsigned char eks6[16] = { 0xfd, 0x00, 0x0e, 0xc2, [15] = 0x23 };
			host[n - 1] = '\0';
			ok = inet_pton(AF_INET6, host + 1, a) == 1 &&
			     (memcmp(a, loop6, 16) == 0 || memcmp(a, eks6, 16) == 0);
		} else if (strcasecmp(host, "localhost") != 0) {
			ok = inet_pton(AF_INET, host, a) == 1 &&
			     (a[0] == 127 || (a[0] == 169 && a[1] == 254 && a[2] == 170 && (a[3] == 2 || a[3] == 23)));
		}
		if (!ok)
			fprintf(stderr, "curl would connect to %s\n", host);
	}
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = fuzz_cstr(data, size);
	struct err err = { "" };
	int rc = creds_ecs_url_allowed(url, &err);
	if (rc == 0) {
		FUZZ_CHECK(strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "http://", 7) == 0);
		/* Plain http only to a host of the list, as curl reads the URL
		 * (userinfo and all). */
		if (strncasecmp(url, "http://", 7) == 0)
			FUZZ_CHECK(curl_host_allowed(url));
	} else {
		FUZZ_CHECK(rc == -1 && err.msg[0] != '\0');
	}
	free(url);
	return 0;
}
