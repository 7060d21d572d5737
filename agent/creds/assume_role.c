/* STS AssumeRole for profiles with role_arn: one POST signed with the source
 * credentials (those of source_profile or credential_source), answered with
 * temporary keys of the role. */
#include "agent/creds/creds.h"

#include "agent/answer.h"
#include "agent/endpoint.h"
#include "agent/sigv4.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void form_param(struct buf *b, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	if (b->len)
		buf_putc(b, '&');
	buf_puts(b, name);
	buf_putc(b, '=');
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_' || c == '.' || c == '~') {
			buf_putc(b, (char)c);
		} else {
			buf_putc(b, '%');
			buf_putc(b, hex[c >> 4]);
			buf_putc(b, hex[c & 15]);
		}
	}
}

/* The region STS is called in: the environment's, the profile's, else
 * us-east-1 (the global endpoint the SDKs fall back to). */
static char *sts_region(const struct creds_ctx *ctx, const char *profile_region)
{
	const char *r = sys_env(ctx->sys, "AWS_REGION");
	if (!r)
		r = sys_env(ctx->sys, "AWS_DEFAULT_REGION");
	if (!r)
		r = profile_region;
	return xstrdup(r && *r ? r : "us-east-1");
}

int creds_assume_role(const struct creds_ctx *ctx, const struct creds_assume_role *a, const struct creds *source,
		      struct creds *out, struct err *err)
{
	struct buf body = BUF_INIT, url = BUF_INIT, path = BUF_INIT, auth = BUF_INIT;
	struct buf code = BUF_INIT, msg = BUF_INIT;
	struct http_response resp = {0};
	char *region = sts_region(ctx, a->region), *endpoint = NULL;
	char host[256], session[64], duration[16];
	struct err perr = {""};
	int rc = -1;

	creds_clear(out);
	if (!ctx->http) {
		err_set(err, "the AWS profile \"%s\" assumes a role but no HTTP client is available", a->profile);
		goto out;
	}
	endpoint = endpoint_resolve(ctx->sys, "sts", region, err);
	if (!endpoint)
		goto out;
	if (endpoint_host(endpoint, host, sizeof host) != 0) {
		err_set(err, "the STS endpoint URL %s has no usable host: fix AWS_ENDPOINT_URL_STS", endpoint);
		goto out;
	}
	const char *name = a->session_name;
	if (!name) {
		/* As botocore names them: unique per second, and recognisable in
		 * CloudTrail. */
		snprintf(session, sizeof session, "sfn-agent-%lld", (long long)(ctx->sys->wall_ms() / 1000));
		name = session;
	}
	form_param(&body, "Action", "AssumeRole");
	form_param(&body, "Version", "2011-06-15");
	form_param(&body, "RoleArn", a->role_arn);
	form_param(&body, "RoleSessionName", name);
	if (a->duration_s) {
		snprintf(duration, sizeof duration, "%d", a->duration_s);
		form_param(&body, "DurationSeconds", duration);
	}
	if (a->external_id)
		form_param(&body, "ExternalId", a->external_id);

	static const char content_type[] = "application/x-www-form-urlencoded; charset=utf-8";
	buf_printf(&path, "%s/", endpoint_path(endpoint));
	buf_printf(&url, "%s/", endpoint);
	struct sigv4_input in = {
	    .method = "POST",
	    .host = host,
	    .path = path.data,
	    .query = "",
	    .region = region,
	    .service = "sts",
	    .content_type = content_type,
	    .payload = span_of(body.data, body.len),
	    .wall_ms = ctx->sys->wall_ms(),
	};
	char amz_date[17];
	sigv4_sign(&in, source, amz_date, &auth);
	struct http_header headers[6] = {
	    {"Host", host},
	    {"Content-Type", content_type},
	    {"X-Amz-Date", amz_date},
	    {"Authorization", buf_cstr(&auth)},
	    {"Accept", "text/xml"},
	};
	size_t n = 5;
	if (source->session_token && *source->session_token)
		headers[n++] = (struct http_header){"X-Amz-Security-Token", source->session_token};
	struct http_request req = {
	    .method = "POST",
	    .url = url.data,
	    .headers = headers,
	    .n_headers = n,
	    .body = body.data,
	    .body_len = body.len,
	    .timeout_ms = 10000,
	    .connect_timeout_ms = 3000,
	    .max_body = HTTP_BODY_CREDENTIALS,
	};
	if (creds_http_retry(ctx, &req, &resp, 3, "STS AssumeRole", err) != 0)
		goto out;
	struct span rb = span_of(resp.body.data, resp.body.len);
	if (resp.status != 200 || memmem(rb.ptr, rb.len, "<ErrorResponse", 14)) {
		if (xml_text(rb, "Code", &code)) {
			xml_text(rb, "Message", &msg);
			err_set(err, "STS AssumeRole of %.300s (profile \"%s\") failed: %.100s%s%.400s", a->role_arn,
				a->profile, buf_cstr(&code), msg.len ? ": " : "", buf_cstr(&msg));
		} else {
			err_set(err, "STS AssumeRole of %.300s (profile \"%s\") failed with HTTP %ld", a->role_arn,
				a->profile, resp.status);
		}
		goto out;
	}
	if (creds_sts_parse(rb, resp.status, out, &perr) != 0) {
		err_set(err, "STS AssumeRole of %.300s (profile \"%s\"): %s", a->role_arn, a->profile, perr.msg);
		goto out;
	}
	if (creds_check_printable(out, "STS AssumeRole", err) != 0) {
		creds_clear(out);
		goto out;
	}
	log_debug("credentials: profile \"%s\" assumed %s as session %s", a->profile, a->role_arn, name);
	rc = 0;
out:
	buf_free_secret(&resp.body);
	http_response_free(&resp);
	buf_free(&body);
	buf_free(&url);
	buf_free(&path);
	buf_free(&auth);
	buf_free(&code);
	buf_free(&msg);
	free(endpoint);
	free(region);
	return rc;
}
