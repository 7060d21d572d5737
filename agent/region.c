/* Which region to name: the environment, the profile, then what the
 * platform (ECS task metadata, EC2 IMDS) says about where we run. */
#include "agent/region.h"

#include "agent/creds/creds.h"
#include "agent/answer.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

/* "us-east-1", "cn-north-1", "us-gov-west-1", "eu-isoe-west-1": lower-case
 * letters, digits and dashes.  Anything else would end up in a host name. */
static bool region_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* GET $ECS_CONTAINER_METADATA_URI_V4/task, parsed; NULL when unset or
 * unreachable.  One short attempt: the ECS agent answers locally or not at
 * all, and the caller has other places to look. */
static cJSON *task_metadata(const struct sys *sys, struct http *http, int64_t deadline_ms)
{
	const char *base = sys_env(sys, "ECS_CONTAINER_METADATA_URI_V4");
	if (!base || !http)
		return NULL;
	struct creds_ctx ctx = {sys, http, NULL, deadline_ms};
	struct buf url = BUF_INIT;
	struct http_response resp = {0};
	struct err err;
	cJSON *root = NULL;
	size_t n = strlen(base);
	while (n && base[n - 1] == '/')
		n--;
	buf_printf(&url, "%.*s/task", (int)n, base);
	struct http_request req = {
	    .method = "GET",
	    .url = url.data,
	    .timeout_ms = 1000,
	    .connect_timeout_ms = 1000,
	    .max_body = HTTP_BODY_METADATA,
	    .direct = true,
	};
	if (creds_http_retry(&ctx, &req, &resp, 1, "the ECS task metadata endpoint", &err) != 0) {
		log_debug("%s", err.msg);
		goto out;
	}
	if (resp.status != 200) {
		log_debug("the ECS task metadata endpoint (%s) answered HTTP %ld", url.data, resp.status);
		goto out;
	}
	root = cJSON_ParseWithLength(resp.body.data, resp.body.len);
	if (!cJSON_IsObject(root)) {
		log_debug("the ECS task metadata endpoint (%s) did not answer a JSON object", url.data);
		cJSON_Delete(root);
		root = NULL;
	}
out:
	http_response_free(&resp);
	buf_free(&url);
	return root;
}

/* "arn:aws:ecs:us-east-1:123456789012:task/cluster/id" -> "us-east-1". */
static char *region_of_arn(const char *arn)
{
	const char *p = arn;
	for (int i = 0; i < 3; i++) {
		p = strchr(p, ':');
		if (!p)
			return NULL;
		p++;
	}
	const char *end = strchr(p, ':');
	if (!end || strncmp(arn, "arn:", 4) != 0)
		return NULL;
	char *r = xstrndup(p, (size_t)(end - p));
	if (!region_valid(r)) {
		free(r);
		return NULL;
	}
	return r;
}

static char *ecs_region(const struct sys *sys, struct http *http, int64_t deadline_ms)
{
	cJSON *root = task_metadata(sys, http, deadline_ms);
	char *r = NULL;
	if (!root)
		return NULL;
	const char *arn = json_str(root, "TaskARN");
	const char *az = json_str(root, "AvailabilityZone");
	if (arn)
		r = region_of_arn(arn);
	if (!r && az) {
		/* "us-east-1a" -> "us-east-1".  Only the plain form: a Local
		 * Zone name ("us-west-2-lax-1a") does not end in its region. */
		size_t n = strlen(az);
		if (n > 2 && az[n - 1] >= 'a' && az[n - 1] <= 'z' && az[n - 2] >= '0' && az[n - 2] <= '9') {
			r = xstrndup(az, n - 1);
			int dashes = 0;
			for (char *p = r; *p; p++)
				dashes += *p == '-';
			if (!region_valid(r) || dashes > 3) {
				free(r);
				r = NULL;
			}
		}
	}
	cJSON_Delete(root);
	return r;
}

char *ecs_task_arn(const struct sys *sys, struct http *http)
{
	struct http own = { 0 };
	struct err err;
	char *arn = NULL;

	if (!sys_env(sys, "ECS_CONTAINER_METADATA_URI_V4"))
		return NULL;
	/* A caller without a client (a test, a tool) gets one for the one
	 * request; the run mode lends its Step Functions client's. */
	if (!http) {
		if (http_curl_new(&own, NULL, &err) != 0) {
			log_debug("no task ARN: %s", err.msg);
			return NULL;
		}
		http = &own;
	}
	cJSON *root = task_metadata(sys, http, 0);
	if (root) {
		const char *s = json_str(root, "TaskARN");
		if (s && strncmp(s, "arn:", 4) == 0)
			arn = xstrdup(s);
		cJSON_Delete(root);
	}
	if (http == &own)
		http_free(&own);
	return arn;
}

char *region_resolve(const struct sys *sys, struct http *http, const char *fallback, struct err *err)
{
	return region_resolve_until(sys, http, fallback, 0, err);
}

char *region_resolve_until(const struct sys *sys, struct http *http, const char *fallback, int64_t deadline_ms,
			   struct err *err)
{
	static const char *const vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
	char *r;

	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const char *v = sys_env(sys, vars[i]);
		if (!v)
			continue;
		if (!region_valid(v)) {
			err_set(err, "%s \"%.64s\" is not a region name: give one like us-east-1", vars[i],
				v);
			return NULL;
		}
		log_debug("region %s from %s", v, vars[i]);
		return xstrdup(v);
	}
	r = creds_profile_region(sys);
	if (r) {
		if (region_valid(r)) {
			log_debug("region %s from the AWS profile", r);
			return r;
		}
		err_set(err,
			"the AWS profile's region \"%.64s\" is not a region name: give one like us-east-1",
			r);
		free(r);
		return NULL;
	}
	r = ecs_region(sys, http, deadline_ms);
	if (r) {
		log_debug("region %s from the ECS task metadata", r);
		return r;
	}
	r = imds_region_until(sys, http, deadline_ms);
	if (r) {
		if (region_valid(r)) {
			log_debug("region %s from the EC2 instance metadata", r);
			return r;
		}
		free(r);
	}
	if (fallback && region_valid(fallback)) {
		log_debug("region %s from the fallback", fallback);
		return xstrdup(fallback);
	}
	err_set(err, "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or region in the AWS profile)");
	return NULL;
}
