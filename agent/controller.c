#include "controller.h"

#include "../src/buf.h"
#include "../src/json.h"
#include "../src/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
	struct buf msg = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	log_error("%s (see 'sfn-agent %s --help')", buf_cstr(&msg), cmd);
	buf_free(&msg);
	return CTL_USAGE;
}

int ctl_bad_option(const char *cmd, int opt, char **argv)
{
	extern int optind, optopt;
	const char *arg = argv[optind - 1];
	if (opt == ':')
		return ctl_usage_error(cmd, "option %s needs a value: pass it as %s VALUE", arg, arg);
	if (optopt && optopt != '?')
		return ctl_usage_error(cmd, "unknown option -%c: remove it", optopt);
	return ctl_usage_error(cmd, "unknown option %s: remove it", arg);
}

int ctl_parse_seconds(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

struct sfn_client *ctl_client_new(const char *arn_region, struct err *err)
{
	struct sfn_client_config cfg = { 0 };
	cfg.sys = &sys_real;
	cfg.region_fallback = arn_region && *arn_region ? arn_region : NULL;
	struct sfn_client *c = sfn_client_new(&cfg, err);
	if (!c)
		return NULL;
	/* The ARN names the one region where the resource exists; a different
	 * AWS_REGION makes every call fail with "does not exist". */
	const char *region = sfn_client_region(c);
	if (arn_region && *arn_region && region && strcmp(region, arn_region) != 0)
		log_warn("the ARN is in %s but calls go to %s (from the environment): unset AWS_REGION and "
			 "AWS_DEFAULT_REGION or set them to %s if the calls fail",
			 arn_region, region, arn_region);
	return c;
}

void ctl_report_call(const char *operation, const struct sfn_reply *r)
{
	char explain[512];
	sfn_explain(r, operation, explain, sizeof explain);
	if (r->code[0])
		log_error("%s failed: %s: %s; %s", operation, r->code, r->message, explain);
	else if (r->message[0])
		log_error("%s failed: %s; %s", operation, r->message, explain);
	else
		log_error("%s failed: %s", operation, explain);
}

int ctl_check_state_machine(struct sfn_client *c, const char *arn, const struct asl_options *opt,
			    int64_t deadline_ms, struct asl_report *report, struct sfn_reply *reply, struct err *err)
{
	struct buf body = BUF_INIT;
	cJSON *root = NULL;
	int rc = -1;
	memset(report, 0, sizeof *report);
	buf_puts(&body, "{\"stateMachineArn\":");
	json_append_string(&body, span_str(arn));
	buf_putc(&body, '}');
	if (sfn_call(c, "DescribeStateMachine", buf_cstr(&body), deadline_ms, reply) != 0)
		goto out;
	root = cJSON_ParseWithLength(reply->body.data ? reply->body.data : "", reply->body.len);
	const cJSON *def = cJSON_GetObjectItemCaseSensitive(root, "definition");
	if (!cJSON_IsString(def)) {
		err_set(err, "DescribeStateMachine answered without a definition: check that the endpoint "
			     "(AWS_ENDPOINT_URL_SFN) is Step Functions");
		goto out;
	}
	rc = asl_check(def->valuestring, strlen(def->valuestring), opt, report, err);
out:
	cJSON_Delete(root);
	buf_free(&body);
	return rc;
}
