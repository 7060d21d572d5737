/* Credentials (and the region) from the EC2 instance metadata service,
 * IMDSv2 only: a session token first, then the role's credentials. */
#include "agent/creds/creds.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_TTL "21600"

static bool imds_disabled(const struct sys *sys)
{
	const char *v = sys_env(sys, "AWS_EC2_METADATA_DISABLED");
	return v && strcasecmp(v, "true") == 0;
}

static char *imds_endpoint(const struct sys *sys)
{
	const char *v = sys_env(sys, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = sys_env(sys, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	if (!v)
		v = mode && strcasecmp(mode, "IPv6") == 0 ? "http://[fd00:ec2::254]"
							  : "http://169.254.169.254";
	size_t n = strlen(v);
	while (n && v[n - 1] == '/')
		n--;
	return xstrndup(v, n);
}

/* Short timeouts: off EC2 (Fargate, a laptop) nothing answers, and the agent
 * should not sit on that for long before saying so. */
static void imds_request(struct http_request *req, const char *method, const char *url, struct http_header *h,
			 size_t nh)
{
	memset(req, 0, sizeof *req);
	req->method = method;
	req->url = url;
	req->headers = h;
	req->n_headers = nh;
	req->timeout_ms = 2000;
	req->connect_timeout_ms = 1000;
	req->max_body = HTTP_BODY_CREDENTIALS;
	req->direct = true;
}

/* The session token.  CREDS_NOT_HERE when IMDS does not answer or does not
 * offer tokens (then there is nothing IMDSv2 can give). */
static enum creds_result imds_token(const struct creds_ctx *ctx, const char *base, struct buf *token,
				    struct err *err)
{
	struct buf url = BUF_INIT;
	struct http_response resp = {0};
	struct http_header h[] = {{"X-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL}};
	struct http_request req;
	enum creds_result r = CREDS_NOT_HERE;

	buf_printf(&url, "%s/latest/api/token", base);
	imds_request(&req, "PUT", url.data, h, 1);
	/* Two tries only: a connection that fails here most likely means we
	 * are not on EC2 at all. */
	if (creds_http_retry(ctx, &req, &resp, 2, "the EC2 instance metadata service", err) != 0)
		goto out;
	if (resp.status != 200 || resp.body.len == 0) {
		err_set(err, "the EC2 instance metadata service refused a session token (HTTP %ld)",
			resp.status);
		goto out;
	}
	buf_reset(token);
	buf_append(token, resp.body.data, resp.body.len);
	r = CREDS_OK;
out:
	http_response_free(&resp);
	buf_free(&url);
	return r;
}

/* GET base+path with the session token.  0 with the answer in resp (any
 * status below 500), -1 with err. */
static int imds_get(const struct creds_ctx *ctx, const char *base, const char *path, const struct buf *token,
		    struct http_response *resp, struct err *err)
{
	struct buf url = BUF_INIT;
	struct http_header h[] = {{"X-aws-ec2-metadata-token", token->data}};
	struct http_request req;
	buf_printf(&url, "%s%s", base, path);
	imds_request(&req, "GET", url.data, h, 1);
	int rc = creds_http_retry(ctx, &req, resp, 3, "the EC2 instance metadata service", err);
	buf_free(&url);
	return rc;
}

static enum creds_result imds_fetch(const struct creds_ctx *ctx, struct creds *out, struct err *err)
{
	static const char role_path[] = "/latest/meta-data/iam/security-credentials/";
	enum creds_result r = CREDS_FAILED;
	struct buf token = BUF_INIT, path = BUF_INIT;
	struct http_response resp = {0};
	char *base = NULL;
	struct err perr;

	if (imds_disabled(ctx->sys) || !ctx->http)
		return CREDS_NOT_HERE;
	base = imds_endpoint(ctx->sys);
	r = imds_token(ctx, base, &token, err);
	if (r != CREDS_OK)
		goto out;
	r = CREDS_FAILED;

	if (imds_get(ctx, base, role_path, &token, &resp, err) != 0)
		goto out;
	if (resp.status == 404) {
		err_set(err, "the EC2 instance has no IAM role");
		r = CREDS_NOT_HERE;
		goto out;
	}
	/* The first line is the role's name; IMDS lists exactly one. */
	size_t n = resp.body.len ? strcspn(resp.body.data, "\r\n") : 0;
	if (resp.status != 200 || n == 0 || memchr(resp.body.data, '/', n)) {
		err_set(err,
			"the EC2 instance metadata service did not name the instance's IAM role (HTTP %ld)",
			resp.status);
		goto out;
	}
	buf_printf(&path, "%s%.*s", role_path, (int)n, resp.body.data);
	http_response_free(&resp);
	memset(&resp, 0, sizeof resp);

	if (imds_get(ctx, base, path.data, &token, &resp, err) != 0)
		goto out;
	if (resp.status != 200) {
		err_set(err, "the EC2 instance metadata service answered HTTP %ld for the role's credentials",
			resp.status);
		goto out;
	}
	if (creds_parse_json(span_of(resp.body.data, resp.body.len), out, &perr) != 0) {
		err_set(err, "the EC2 instance metadata service gave unusable credentials: %s", perr.msg);
		goto out;
	}
	r = CREDS_OK;
out:
	buf_free_secret(&resp.body); /* it held the credentials */
	http_response_free(&resp);
	buf_free_secret(&token);
	buf_free(&path);
	free(base);
	return r;
}

const struct creds_provider creds_imds_provider = {"instance metadata", imds_fetch};

char *imds_region(const struct sys *sys, struct http *http)
{
	return imds_region_until(sys, http, 0);
}

char *imds_region_until(const struct sys *sys, struct http *http, int64_t deadline_ms)
{
	struct creds_ctx ctx = {sys, http, NULL, deadline_ms};
	struct buf token = BUF_INIT;
	struct http_response resp = {0};
	struct err err;
	char *region = NULL, *base;

	if (imds_disabled(sys) || !http)
		return NULL;
	base = imds_endpoint(sys);
	if (imds_token(&ctx, base, &token, &err) != CREDS_OK) {
		log_debug("region: %s", err.msg);
		goto out;
	}
	if (imds_get(&ctx, base, "/latest/meta-data/placement/region", &token, &resp, &err) != 0) {
		log_debug("region: %s", err.msg);
		goto out;
	}
	if (resp.status == 200 && resp.body.len)
		region = xstrndup(resp.body.data, strcspn(resp.body.data, "\r\n"));
out:
	http_response_free(&resp);
	buf_free_secret(&token);
	free(base);
	return region;
}
