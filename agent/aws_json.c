/* ECS and CloudWatch Logs calls for the controller: sign, send, classify.
 *
 * Deliberately smaller than the Step Functions client: nothing here reports
 * a result, so there is no "may have been delivered" to track, and the
 * controller's next poll is the retry of last resort. */
#include "agent/aws_json.h"

#include "base/log.h"
#include "agent/creds/creds.h"
#include "agent/endpoint.h"
#include "agent/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ATTEMPT_MS 10000
#define CONNECT_MS 3000
#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS 2000

const struct aws_json_service aws_service_ecs = {
	"ecs", "AmazonEC2ContainerServiceV20141113", "application/x-amz-json-1.1", "AWS_ENDPOINT_URL_ECS",
};
const struct aws_json_service aws_service_logs = {
	"logs", "Logs_20140328", "application/x-amz-json-1.1", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
};
const struct aws_json_service aws_service_iam = {
	"iam", NULL, "application/x-www-form-urlencoded; charset=utf-8", "AWS_ENDPOINT_URL_IAM",
	"https://iam.amazonaws.com",
};

struct aws_json_client {
	const struct sys *sys;
	const struct aws_json_service *svc;
	struct http http;
	char *region;
	char *url;  /* endpoint + "/" */
	char *path; /* what is signed */
	char host[256];
	struct creds_chain *creds;
};

struct aws_json_client *aws_json_client_new_with_http(const struct sys *sys, const struct aws_json_service *svc,
						      const char *region, struct http http, struct err *err)
{
	struct aws_json_client *c = xcalloc(1, sizeof *c);
	c->sys = sys ? sys : &sys_real;
	c->svc = svc;
	c->http = http;
	char *endpoint;
	if (svc->global_endpoint && !sys_env(c->sys, svc->endpoint_env) && !sys_env(c->sys, "AWS_ENDPOINT_URL")) {
		c->region = xstrdup("us-east-1");
		endpoint = xstrdup(svc->global_endpoint);
	} else {
		c->region = xstrdup(svc->global_endpoint ? "us-east-1" : region ? region : "");
		endpoint = endpoint_resolve(c->sys, svc->signing_name, c->region, err);
	}
	if (!endpoint)
		goto fail;
	if (endpoint_host(endpoint, c->host, sizeof c->host) != 0) {
		err_set(err, "the endpoint URL %s has no usable host: fix %s", endpoint, svc->endpoint_env);
		free(endpoint);
		goto fail;
	}
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s/", endpoint);
	c->url = buf_steal(&b);
	buf_printf(&b, "%s/", endpoint_path(endpoint));
	c->path = buf_steal(&b);
	free(endpoint);
	c->creds = creds_chain_new(c->sys, &c->http);
	return c;
fail:
	aws_json_client_free(c);
	return NULL;
}

struct aws_json_client *aws_json_client_new(const struct sys *sys, const struct aws_json_service *svc,
					    const char *region, struct err *err)
{
	const struct sys *s = sys ? sys : &sys_real;
	struct http http = { NULL, NULL };
	if (http_curl_new(&http, ca_file_resolve(s), err) != 0)
		return NULL;
	return aws_json_client_new_with_http(s, svc, region, http, err);
}

void aws_json_client_free(struct aws_json_client *c)
{
	if (!c)
		return;
	if (c->creds)
		creds_chain_free(c->creds);
	http_free(&c->http);
	free(c->region);
	free(c->url);
	free(c->path);
	free(c);
}

static int attempt(struct aws_json_client *c, const char *target, const char *body, const struct creds *cr,
		   long timeout_ms, struct http_response *resp)
{
	struct sigv4_input in = {
		.method = "POST",
		.host = c->host,
		.path = c->path,
		.query = "",
		.region = c->region,
		.service = c->svc->signing_name,
		.amz_target = target,
		.content_type = c->svc->content_type,
		.payload = span_str(body),
		.wall_ms = c->sys->wall_ms(),
	};
	char amz_date[17];
	struct buf auth = BUF_INIT;
	sigv4_sign(&in, cr, amz_date, &auth);
	struct http_header headers[6] = {
		{ "Host", c->host },
		{ "Content-Type", c->svc->content_type },
		{ "X-Amz-Date", amz_date },
		{ "Authorization", buf_cstr(&auth) },
	};
	size_t n = 4;
	if (target)
		headers[n++] = (struct http_header){ "X-Amz-Target", target };
	if (cr->session_token && *cr->session_token)
		headers[n++] = (struct http_header){ "X-Amz-Security-Token", cr->session_token };
	struct http_request req = {
		.method = "POST",
		.url = c->url,
		.headers = headers,
		.n_headers = n,
		.body = body,
		.body_len = strlen(body),
		.timeout_ms = timeout_ms,
		.connect_timeout_ms = timeout_ms < CONNECT_MS ? timeout_ms : CONNECT_MS,
	};
	int rc = http_perform(&c->http, &req, resp);
	buf_free(&auth);
	return rc;
}

static bool retryable(const struct http_response *resp, const char *code)
{
	if (resp->failure == HTTP_CONNECT || resp->failure == HTTP_TIMEOUT || resp->failure == HTTP_BROKEN)
		return true;
	if (resp->failure != HTTP_OK)
		return false;
	return resp->status == 429 || resp->status == 500 || resp->status == 502 || resp->status == 503 ||
	       resp->status == 504 || strstr(code, "Throttl") || strcmp(code, "TooManyRequestsException") == 0 ||
	       strcmp(code, "ServerException") == 0 || strcmp(code, "ServiceUnavailableException") == 0;
}

static enum sfn_outcome final_outcome(const struct http_response *resp, const char *code, const char *message)
{
	if (resp->failure != HTTP_OK)
		return SFN_REFUSED; /* TLS or URL: time will not fix it */
	if (strncmp(code, "AccessDenied", 12) == 0 || strcasestr(message, "not authorized"))
		return SFN_ACCESS_DENIED;
	if (strstr(code, "Signature") || strstr(code, "UnrecognizedClient") || strstr(code, "InvalidClientTokenId") ||
	    strstr(code, "ExpiredToken") || strstr(code, "MissingAuthenticationToken") ||
	    (resp->status == 403 && !code[0]))
		return SFN_AUTH_FAILED;
	return SFN_REFUSED;
}

int aws_json_call(struct aws_json_client *c, const char *operation, const char *json_body, int64_t deadline_ms,
		  struct sfn_reply *reply)
{
	struct buf keep = reply->body;
	buf_reset(&keep);
	memset(reply, 0, sizeof *reply);
	reply->body = keep;
	if (!json_body)
		json_body = "{}";
	struct buf target = BUF_INIT;
	buf_printf(&target, "%s.%s", c->svc->target_prefix, operation);
	struct http_response resp = { 0 };
	bool refreshed = false;
	int backoffs = 0;

	for (;;) {
		int64_t remaining = deadline_ms - c->sys->mono_ms();
		if (remaining <= 0) {
			reply->outcome = SFN_GAVE_UP;
			if (!reply->message[0])
				snprintf(reply->message, sizeof reply->message, "the deadline passed before %s could be sent",
					 operation);
			break;
		}
		const struct creds *cr = NULL;
		struct err err = { "" };
		if (creds_chain_get(c->creds, &cr, &err) != 0) {
			reply->outcome = SFN_NO_CREDENTIALS;
			snprintf(reply->message, sizeof reply->message, "%.*s", (int)sizeof reply->message - 1, err.msg);
			break;
		}
		if (attempt(c, c->svc->target_prefix ? buf_cstr(&target) : NULL, json_body, cr, remaining < ATTEMPT_MS ? (long)remaining : ATTEMPT_MS,
			    &resp) != 0) {
			reply->outcome = SFN_REFUSED;
			snprintf(reply->message, sizeof reply->message, "internal error: bad HTTP request");
			break;
		}
		reply->attempts++;
		reply->http_status = resp.status;
		if (resp.failure == HTTP_OK && resp.status >= 200 && resp.status < 300) {
			reply->outcome = SFN_OK;
			reply->code[0] = reply->message[0] = '\0';
			struct buf tmp = reply->body;
			reply->body = resp.body;
			resp.body = tmp;
			break;
		}
		if (resp.failure == HTTP_OK) {
			sfn_parse_error(&resp.body, reply);
			if (!reply->code[0] && !reply->message[0])
				snprintf(reply->message, sizeof reply->message, "HTTP %ld without an error code", resp.status);
		} else {
			reply->code[0] = '\0';
			snprintf(reply->message, sizeof reply->message, "%s", resp.error);
		}
		if (strstr(reply->code, "ExpiredToken") && !refreshed) {
			refreshed = true;
			creds_chain_invalidate(c->creds);
			continue;
		}
		if (!retryable(&resp, reply->code)) {
			reply->outcome = final_outcome(&resp, reply->code, reply->message);
			break;
		}
		reply->outcome = SFN_GAVE_UP;
		int64_t ceiling = backoffs < 4 ? (int64_t)BACKOFF_BASE_MS << backoffs : BACKOFF_CAP_MS;
		backoffs++;
		int64_t sleep = (int64_t)(c->sys->random() % (uint32_t)(ceiling + 1));
		if (c->sys->mono_ms() + sleep >= deadline_ms)
			break;
		log_debug("%s: %s%s%s, retrying in %.1f s", operation, reply->code[0] ? reply->code : "failed",
			  reply->message[0] ? ": " : "", reply->message, sleep / 1000.0);
		c->sys->sleep_ms(sleep);
	}
	http_response_free(&resp);
	buf_free(&target);
	return reply->outcome == SFN_OK ? 0 : -1;
}
