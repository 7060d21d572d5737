/* Endpoint URLs: where the calls go.  The environment variables follow the
 * AWS SDKs' service-specific endpoint settings, so one configuration serves
 * the agent and the CLI alike. */
#include "agent/endpoint.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

struct service_info {
	const char *name;     /* signing name and DNS label */
	const char *env;      /* AWS_ENDPOINT_URL_<env> */
};

static const struct service_info services[] = {
	{ "states", "AWS_ENDPOINT_URL_SFN" },
	{ "sts", "AWS_ENDPOINT_URL_STS" },
	{ "ecs", "AWS_ENDPOINT_URL_ECS" },
	{ "logs", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS" },
	{ "iam", "AWS_ENDPOINT_URL_IAM" },
};

const char *partition_dns_suffix(const char *region)
{
	static const struct {
		const char *prefix, *suffix;
	} partitions[] = {
		{ "cn-", "amazonaws.com.cn" },
		{ "us-iso-", "c2s.ic.gov" },
		{ "us-isob-", "sc2s.sgov.gov" },
		{ "us-isof-", "csp.hci.ic.gov" },
		{ "eu-isoe-", "cloud.adc-e.uk" },
	};
	for (size_t i = 0; i < sizeof partitions / sizeof partitions[0]; i++)
		if (strncmp(region, partitions[i].prefix, strlen(partitions[i].prefix)) == 0)
			return partitions[i].suffix;
	return "amazonaws.com";
}

/* A region goes into a host name and a signing scope: anything but
 * letters, digits and dashes would make a wrong URL or a confusing
 * signature error far from the cause. */
static int region_check(const char *region, struct err *err)
{
	if (!region || !*region)
		return err_set(err, "no AWS region: set AWS_REGION (for example AWS_REGION=us-east-1)");
	size_t n = strlen(region);
	bool ok = n <= 64 && isalpha((unsigned char)region[0]) && region[n - 1] != '-';
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)region[i]) || region[i] == '-';
	if (!ok)
		return err_set(err,
			       "the AWS region \"%.64s\" is not valid: a region is letters, digits and dashes such "
			       "as us-east-1; fix AWS_REGION or AWS_DEFAULT_REGION",
			       region);
	return 0;
}

/* The authority of a URL: where it starts (after "scheme://") and its
 * length, and whether the scheme is https.  -1 for anything but http(s). */
static int split_url(const char *url, const char **auth, size_t *auth_len, bool *https)
{
	const char *rest;
	if (strncasecmp(url, "https://", 8) == 0) {
		*https = true;
		rest = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		*https = false;
		rest = url + 7;
	} else {
		return -1;
	}
	size_t n = strcspn(rest, "/?#");
	/* Credentials in the URL are never sent: skip "user:pass@". */
	const char *at = memchr(rest, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - rest);
		rest = at + 1;
	}
	*auth = rest;
	*auth_len = n;
	return 0;
}

int endpoint_host(const char *url, char *host, size_t host_size)
{
	const char *auth;
	size_t n;
	bool https;
	if (split_url(url, &auth, &n, &https) != 0 || n == 0)
		return -1;
	/* The port is the part after the last ':' unless it is inside an IPv6
	 * literal's brackets. */
	const char *colon = NULL;
	for (size_t i = n; i-- > 0;) {
		if (auth[i] == ']')
			break;
		if (auth[i] == ':') {
			colon = auth + i;
			break;
		}
	}
	size_t keep = n;
	if (colon) {
		const char *port = colon + 1;
		size_t port_len = n - (size_t)(port - auth);
		if (port_len == 0 || strspn(port, "0123456789") < port_len || port_len > 5)
			return -1;
		if ((https && port_len == 3 && memcmp(port, "443", 3) == 0) ||
		    (!https && port_len == 2 && memcmp(port, "80", 2) == 0))
			keep = (size_t)(colon - auth);
		if (colon == auth)
			return -1;
	}
	if (keep + 1 > host_size)
		return -1;
	for (size_t i = 0; i < keep; i++)
		host[i] = (char)tolower((unsigned char)auth[i]);
	host[keep] = '\0';
	return 0;
}

const char *endpoint_path(const char *url)
{
	const char *auth;
	size_t n;
	bool https;
	if (split_url(url, &auth, &n, &https) != 0)
		return "";
	return auth + n;
}

static char *override_url(const char *var, const char *value, struct err *err)
{
	const char *auth;
	size_t n;
	bool https;
	char host[256];
	if (split_url(value, &auth, &n, &https) != 0) {
		err_set(err, "%s=%.200s is not an http:// or https:// URL: set it to a URL such as "
			     "https://states.us-east-1.amazonaws.com",
			var, value);
		return NULL;
	}
	if (strpbrk(value, "?# \t\r\n") || endpoint_host(value, host, sizeof host) != 0) {
		err_set(err, "%s=%.200s is not a usable endpoint URL: give scheme, host, optional port "
			     "and path, without query or spaces",
			var, value);
		return NULL;
	}
	size_t len = strlen(value);
	while (len > 0 && value[len - 1] == '/')
		len--;
	return xstrndup(value, len);
}

char *endpoint_resolve(const struct sys *sys, const char *service, const char *region, struct err *err)
{
	const struct service_info *si = NULL;
	for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
		if (strcmp(service, services[i].name) == 0)
			si = &services[i];
	if (!si) {
		err_set(err, "no endpoint is known for the service \"%s\"", service);
		return NULL;
	}
	/* Signing needs a valid region even when the URL is given. */
	if (region_check(region, err) != 0)
		return NULL;

	const char *v = sys_env(sys, si->env);
	if (v)
		return override_url(si->env, v, err);
	v = sys_env(sys, "AWS_ENDPOINT_URL");
	if (v)
		return override_url("AWS_ENDPOINT_URL", v, err);

	const char *fips = sys_env(sys, "AWS_USE_FIPS_ENDPOINT");
	bool use_fips = fips && strcasecmp(fips, "true") == 0;
	struct buf url = BUF_INIT;
	buf_printf(&url, "https://%s%s.%s.%s", si->name, use_fips ? "-fips" : "", region,
		   partition_dns_suffix(region));
	return buf_steal(&url);
}
