/* Endpoint resolution: partitions, FIPS, the environment overrides, and the
 * refusals of bad regions and URLs. */
#include "agent/endpoint.h"
#include "check.h"

#include <stdlib.h>

static const char *env[16][2];

static const char *fake_getenv(const char *name)
{
	for (size_t i = 0; i < 16 && env[i][0]; i++)
		if (strcmp(env[i][0], name) == 0)
			return env[i][1];
	return NULL;
}

static const struct sys fake_sys = { fake_getenv, NULL, NULL, NULL, NULL };

static void setenv_fake(const char *name, const char *value)
{
	for (size_t i = 0; i < 15; i++) {
		if (!env[i][0] || strcmp(env[i][0], name) == 0) {
			env[i][0] = name;
			env[i][1] = value;
			return;
		}
	}
}

static void clear_env(void)
{
	memset(env, 0, sizeof env);
}

/* Resolves and compares; want NULL means "must fail". */
static void expect(const char *service, const char *region, const char *want)
{
	struct err err = { "" };
	char *url = endpoint_resolve(&fake_sys, service, region, &err);
	if (want) {
		CHECK_STR(url, want);
	} else {
		if (url)
			fprintf(stderr, "  %s %s: unexpectedly got %s\n", service, region ? region : "(null)", url);
		CHECK(url == NULL);
		CHECK(err.msg[0] != '\0');
	}
	free(url);
}

static void test_partitions(void)
{
	clear_env();
	expect("states", "us-east-1", "https://states.us-east-1.amazonaws.com");
	expect("states", "eu-central-2", "https://states.eu-central-2.amazonaws.com");
	expect("states", "us-gov-west-1", "https://states.us-gov-west-1.amazonaws.com");
	expect("states", "cn-north-1", "https://states.cn-north-1.amazonaws.com.cn");
	expect("states", "cn-northwest-1", "https://states.cn-northwest-1.amazonaws.com.cn");
	expect("states", "us-iso-east-1", "https://states.us-iso-east-1.c2s.ic.gov");
	expect("states", "us-isob-east-1", "https://states.us-isob-east-1.sc2s.sgov.gov");
	expect("states", "eu-isoe-west-1", "https://states.eu-isoe-west-1.cloud.adc-e.uk");
	expect("states", "us-isof-south-1", "https://states.us-isof-south-1.csp.hci.ic.gov");
	expect("sts", "us-west-2", "https://sts.us-west-2.amazonaws.com");
	expect("sts", "cn-north-1", "https://sts.cn-north-1.amazonaws.com.cn");
	CHECK_STR(partition_dns_suffix("ap-southeast-4"), "amazonaws.com");
	CHECK_STR(partition_dns_suffix("cn-north-1"), "amazonaws.com.cn");
}

static void test_fips(void)
{
	clear_env();
	setenv_fake("AWS_USE_FIPS_ENDPOINT", "true");
	expect("states", "us-east-1", "https://states-fips.us-east-1.amazonaws.com");
	expect("states", "us-gov-west-1", "https://states-fips.us-gov-west-1.amazonaws.com");
	expect("sts", "us-east-2", "https://sts-fips.us-east-2.amazonaws.com");
	setenv_fake("AWS_USE_FIPS_ENDPOINT", "TRUE");
	expect("states", "us-east-1", "https://states-fips.us-east-1.amazonaws.com");
	setenv_fake("AWS_USE_FIPS_ENDPOINT", "false");
	expect("states", "us-east-1", "https://states.us-east-1.amazonaws.com");
}

static void test_overrides(void)
{
	clear_env();
	setenv_fake("AWS_ENDPOINT_URL", "http://127.0.0.1:5000/");
	expect("states", "us-east-1", "http://127.0.0.1:5000");
	expect("sts", "us-east-1", "http://127.0.0.1:5000");
	setenv_fake("AWS_ENDPOINT_URL_SFN", "https://localhost:4566");
	expect("states", "us-east-1", "https://localhost:4566");
	expect("sts", "us-east-1", "http://127.0.0.1:5000");
	setenv_fake("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:6000");
	expect("sts", "us-east-1", "http://127.0.0.1:6000");
	/* The override wins over FIPS, as in the SDKs. */
	setenv_fake("AWS_USE_FIPS_ENDPOINT", "true");
	expect("states", "us-east-1", "https://localhost:4566");
	/* An empty variable is unset. */
	setenv_fake("AWS_ENDPOINT_URL_SFN", "");
	expect("states", "us-east-1", "http://127.0.0.1:5000");
}

static void test_bad_input(void)
{
	clear_env();
	expect("states", "us east 1", NULL);
	expect("states", "us-east-1.evil.com/", NULL);
	expect("states", "", NULL);
	expect("states", NULL, NULL);
	expect("states", "-us-east-1", NULL);
	expect("lambda", "us-east-1", NULL);
	setenv_fake("AWS_ENDPOINT_URL_SFN", "ftp://127.0.0.1/");
	expect("states", "us-east-1", NULL);
	setenv_fake("AWS_ENDPOINT_URL_SFN", "127.0.0.1:5000");
	expect("states", "us-east-1", NULL);
	setenv_fake("AWS_ENDPOINT_URL_SFN", "http://127.0.0.1:abc");
	expect("states", "us-east-1", NULL);
	setenv_fake("AWS_ENDPOINT_URL_SFN", "http://127.0.0.1:5000/?x=1");
	expect("states", "us-east-1", NULL);
	setenv_fake("AWS_ENDPOINT_URL_SFN", "http:///x");
	expect("states", "us-east-1", NULL);

	struct err err = { "" };
	setenv_fake("AWS_ENDPOINT_URL_SFN", "");
	char *url = endpoint_resolve(&fake_sys, "states", "us_east_1", &err);
	CHECK(url == NULL);
	CHECK(strstr(err.msg, "us_east_1") != NULL);
	CHECK(strstr(err.msg, "AWS_REGION") != NULL);
}

static void host_is(const char *url, const char *want)
{
	char host[128] = "";
	int rc = endpoint_host(url, host, sizeof host);
	if (want) {
		CHECK(rc == 0);
		CHECK_STR(host, want);
	} else {
		CHECK(rc == -1);
	}
}

static void test_host(void)
{
	host_is("https://states.us-east-1.amazonaws.com", "states.us-east-1.amazonaws.com");
	host_is("https://States.US-EAST-1.amazonaws.com:443", "states.us-east-1.amazonaws.com");
	host_is("https://localhost:4566", "localhost:4566");
	host_is("http://127.0.0.1:80/prefix", "127.0.0.1");
	host_is("http://127.0.0.1:443", "127.0.0.1:443");
	host_is("https://127.0.0.1:80", "127.0.0.1:80");
	host_is("http://user:pw@127.0.0.1:5000", "127.0.0.1:5000");
	host_is("http://[::1]:5000", "[::1]:5000");
	host_is("http://[::1]", "[::1]");
	host_is("http://127.0.0.1:", NULL);
	host_is("http://:5000", NULL);
	host_is("gopher://x", NULL);
	char small[8];
	CHECK(endpoint_host("https://states.us-east-1.amazonaws.com", small, sizeof small) == -1);

	CHECK_STR(endpoint_path("http://127.0.0.1:5000"), "");
	CHECK_STR(endpoint_path("http://127.0.0.1:5000/sfn"), "/sfn");
}

int main(void)
{
	RUN(test_partitions);
	RUN(test_fips);
	RUN(test_overrides);
	RUN(test_bad_input);
	RUN(test_host);
	return CHECK_DONE();
}
