/* Credentials from STS AssumeRoleWithWebIdentity (EKS IRSA and any OIDC
 * setup): AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN.  The call is not
 * signed: the token is the proof. */
#include "agent/creds/creds.h"

#include "agent/answer.h"
#include "agent/endpoint.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WEB_TOKEN_MAX (64 * 1024)

static void form_escape(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
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

static void form_param(struct buf *b, const char *name, const char *value, size_t len)
{
	if (b->len)
		buf_putc(b, '&');
	buf_puts(b, name);
	buf_putc(b, '=');
	form_escape(b, value, len);
}

int creds_sts_parse(struct span body, long status, struct creds *out, struct err *err)
{
	struct buf ak = BUF_INIT, sk = BUF_INIT, tok = BUF_INIT, exp = BUF_INIT;
	int rc = -1;

	creds_clear(out);
	if (status != 200 || memmem(body.ptr, body.len, "<ErrorResponse", 14)) {
		struct buf code = BUF_INIT, msg = BUF_INIT;
		bool has_code = xml_text(body, "Code", &code);
		xml_text(body, "Message", &msg);
		if (has_code)
			err_set(err, "STS AssumeRoleWithWebIdentity failed: %.100s%s%.400s", buf_cstr(&code),
				msg.len ? ": " : "", buf_cstr(&msg));
		else
			err_set(err, "STS AssumeRoleWithWebIdentity failed with HTTP %ld", status);
		buf_free(&code);
		buf_free(&msg);
		goto out;
	}
	if (!xml_text(body, "AccessKeyId", &ak) || !xml_text(body, "SecretAccessKey", &sk) ||
	    !xml_text(body, "SessionToken", &tok) || ak.len == 0 || sk.len == 0 || tok.len == 0) {
		err_set(err, "the STS AssumeRoleWithWebIdentity answer has no credentials in it");
		goto out;
	}
	int64_t exp_ms = 0;
	if (xml_text(body, "Expiration", &exp) &&
	    iso8601_parse_ms(span_of(buf_cstr(&exp), exp.len), &exp_ms) != 0) {
		err_set(err, "the STS answer has an Expiration that is not an ISO 8601 time: \"%.64s\"",
			buf_cstr(&exp));
		goto out;
	}
	out->access_key = buf_steal(&ak);
	out->secret_key = buf_steal(&sk);
	out->session_token = buf_steal(&tok);
	out->expires_ms = exp_ms;
	rc = 0;
out:
	buf_free(&ak);
	buf_free_secret(&sk);
	buf_free_secret(&tok);
	buf_free(&exp);
	return rc;
}

static enum creds_result web_identity_fetch(const struct creds_ctx *ctx, struct creds *out, struct err *err)
{
	const char *file = sys_env(ctx->sys, "AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *role = sys_env(ctx->sys, "AWS_ROLE_ARN");
	const char *session = sys_env(ctx->sys, "AWS_ROLE_SESSION_NAME");
	const char *region = sys_env(ctx->sys, "AWS_REGION");
	enum creds_result r = CREDS_FAILED;
	struct buf token = BUF_INIT, body = BUF_INIT, url = BUF_INIT;
	struct http_response resp = {0};
	char *endpoint = NULL;
	char session_buf[64];
	struct err perr;

	if (!file)
		return CREDS_NOT_HERE;
	if (!role) {
		err_set(err,
			"AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: set the role to assume");
		return CREDS_FAILED;
	}
	int rr = creds_read_file(file, WEB_TOKEN_MAX, &token, &perr);
	if (rr != 0) {
		if (rr == 1)
			err_set(err, "AWS_WEB_IDENTITY_TOKEN_FILE %s does not exist", file);
		else
			err_set(err, "cannot use AWS_WEB_IDENTITY_TOKEN_FILE: %s", perr.msg);
		goto out;
	}
	while (token.len && (token.data[token.len - 1] == '\n' || token.data[token.len - 1] == '\r' ||
			     token.data[token.len - 1] == ' '))
		token.data[--token.len] = '\0';
	if (token.len == 0) {
		err_set(err, "AWS_WEB_IDENTITY_TOKEN_FILE %s is empty", file);
		goto out;
	}
	if (!session) {
		snprintf(session_buf, sizeof session_buf, "sfn-agent-%ld", (long)getpid());
		session = session_buf;
	}
	if (!region)
		region = sys_env(ctx->sys, "AWS_DEFAULT_REGION");
	/* Without a region, the global endpoint in us-east-1, as the SDKs
	 * fall back to. */
	if (!region)
		region = "us-east-1";
	endpoint = endpoint_resolve(ctx->sys, "sts", region, err);
	if (!endpoint)
		goto out;
	if (!ctx->http) {
		err_set(err, "web identity credentials are configured but no HTTP client is available");
		goto out;
	}
	buf_printf(&url, "%s/", endpoint);
	form_param(&body, "Action", "AssumeRoleWithWebIdentity", 25);
	form_param(&body, "Version", "2011-06-15", 10);
	form_param(&body, "RoleArn", role, strlen(role));
	form_param(&body, "RoleSessionName", session, strlen(session));
	form_param(&body, "WebIdentityToken", token.data, token.len);

	static const struct http_header headers[] = {
	    {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
	    {"Accept", "text/xml"},
	};
	struct http_request req = {
	    .method = "POST",
	    .url = url.data,
	    .headers = headers,
	    .n_headers = 2,
	    .body = body.data,
	    .body_len = body.len,
	    .timeout_ms = 10000,
	    .connect_timeout_ms = 3000,
	    .max_body = HTTP_BODY_CREDENTIALS,
	};
	if (creds_http_retry(ctx, &req, &resp, 3, "STS AssumeRoleWithWebIdentity", err) != 0)
		goto out;
	if (creds_sts_parse(span_of(resp.body.data, resp.body.len), resp.status, out, &perr) != 0) {
		err_set(err, "%s (role %s, token from %s)", perr.msg, role, file);
		goto out;
	}
	r = CREDS_OK;
out:
	buf_free_secret(&resp.body); /* it held the credentials */
	http_response_free(&resp);
	buf_free_secret(&token);
	buf_free_secret(&body);
	buf_free(&url);
	free(endpoint);
	return r;
}

const struct creds_provider creds_web_identity_provider = {"web identity", web_identity_fetch};
