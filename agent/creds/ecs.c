/* Credentials from the ECS (or EKS Pod Identity) container endpoint:
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI on 169.254.170.2, or
 * AWS_CONTAINER_CREDENTIALS_FULL_URI with an authorization token. */
#include "agent/creds/creds.h"

#include "base/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ECS_HOST "169.254.170.2"
#define TOKEN_FILE_MAX 16384

static bool host_allowed_plain(const char *host, bool bracketed)
{
	unsigned char a[16];
	if (bracketed) {
		if (inet_pton(AF_INET6, host, a) != 1)
			return false;
		static const unsigned char loop6[16] = {[15] = 1};
		static const unsigned char eks6[16] = {0xfd, 0x00, 0x0e, 0xc2, [15] = 0x23};
		return memcmp(a, loop6, 16) == 0 || memcmp(a, eks6, 16) == 0;
	}
	if (strcasecmp(host, "localhost") == 0)
		return true;
	/* inet_pton takes only the dotted quad, so "127.1" or "0x7f.1" (which
	 * resolvers would accept) are refused rather than guessed at. */
	if (inet_pton(AF_INET, host, a) != 1)
		return false;
	if (a[0] == 127)
		return true;
	return a[0] == 169 && a[1] == 254 && a[2] == 170 && (a[3] == 2 || a[3] == 23);
}

int creds_ecs_url_allowed(const char *url, struct err *err)
{
	const char *sep = strstr(url, "://");
	if (!sep)
		return err_set(err,
			       "AWS_CONTAINER_CREDENTIALS_FULL_URI \"%.200s\" is not a URL: give http:// or "
			       "https:// and a host",
			       url);
	size_t slen = (size_t)(sep - url);
	if (slen == 5 && strncasecmp(url, "https", 5) == 0)
		return 0;
	if (!(slen == 4 && strncasecmp(url, "http", 4) == 0))
		return err_set(err, "AWS_CONTAINER_CREDENTIALS_FULL_URI \"%.200s\" is neither http nor https",
			       url);

	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	for (size_t i = 0; i < alen; i++) {
		unsigned char c = (unsigned char)auth[i];
		/* URL parsers disagree about these; refuse rather than guess
		 * which host the connection would go to. */
		if (c <= ' ' || c == '\\' || c >= 0x7f)
			return err_set(
			    err, "AWS_CONTAINER_CREDENTIALS_FULL_URI \"%.200s\" has a malformed host", url);
	}
	/* A credentials endpoint never needs user information, and with it the
	 * host a reader sees first is not the one connected to. */
	if (memchr(auth, '@', alen))
		return err_set(err,
			       "AWS_CONTAINER_CREDENTIALS_FULL_URI \"%.200s\" has user information before the host: "
			       "give http://HOST[:PORT]/PATH",
			       url);
	char host[256];
	bool bracketed = false;
	const char *port;
	if (alen && auth[0] == '[') {
		const char *close = memchr(auth, ']', alen);
		if (!close || (size_t)(close - auth - 1) >= sizeof host)
			goto refuse_malformed;
		memcpy(host, auth + 1, (size_t)(close - auth - 1));
		host[close - auth - 1] = '\0';
		bracketed = true;
		port = close + 1;
	} else {
		const char *colon = memchr(auth, ':', alen);
		size_t hlen = colon ? (size_t)(colon - auth) : alen;
		if (hlen == 0 || hlen >= sizeof host)
			goto refuse_malformed;
		memcpy(host, auth, hlen);
		host[hlen] = '\0';
		port = auth + hlen;
	}
	if (port < auth + alen) {
		if (*port != ':')
			goto refuse_malformed;
		for (const char *p = port + 1; p < auth + alen; p++)
			if (!isdigit((unsigned char)*p))
				goto refuse_malformed;
	}
	if (host_allowed_plain(host, bracketed))
		return 0;
	return err_set(err,
		       "refusing to fetch credentials over plain http from %s%s%s "
		       "(AWS_CONTAINER_CREDENTIALS_FULL_URI): without TLS only loopback, 169.254.170.2, "
		       "169.254.170.23 and fd00:ec2::23 are allowed; use https or one of those addresses",
		       bracketed ? "[" : "", host, bracketed ? "]" : "");
refuse_malformed:
	return err_set(err, "AWS_CONTAINER_CREDENTIALS_FULL_URI \"%.200s\" has a malformed host", url);
}

/* The authorization token: the file wins over the variable (EKS rotates the
 * file).  0 with *out NULL when neither is set, or -1 with err. */
static int auth_token(const struct sys *sys, char **out, struct err *err)
{
	const char *file = sys_env(sys, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *env = sys_env(sys, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *what = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
	struct buf b = BUF_INIT;

	*out = NULL;
	if (file) {
		struct err rerr;
		int r = creds_read_file(file, TOKEN_FILE_MAX, &b, &rerr);
		if (r == 1)
			err_set(&rerr, "%s does not exist", file);
		if (r != 0) {
			buf_free(&b);
			return err_set(err, "cannot use AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %s",
				       rerr.msg);
		}
		while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
			b.data[--b.len] = '\0';
		what = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
		if (b.len == 0) {
			buf_free(&b);
			return err_set(err, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s is empty", file);
		}
	} else if (env) {
		buf_puts(&b, env);
	} else {
		return 0;
	}
	/* The token becomes a header: a line break would smuggle another. */
	for (size_t i = 0; i < b.len; i++) {
		if (b.data[i] == '\r' || b.data[i] == '\n' || b.data[i] == '\0') {
			explicit_bzero(b.data, b.len);
			buf_free(&b);
			return err_set(err, "the token in %s contains a line break: it must be one line",
				       what);
		}
	}
	*out = buf_steal(&b);
	return 0;
}

/* A short, printable excerpt of an error body for the message. */
static void excerpt(struct span body, struct buf *out)
{
	size_t n = body.len < 200 ? body.len : 200;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)body.ptr[i];
		buf_putc(out, c >= ' ' && c < 0x7f ? (char)c : ' ');
	}
	if (body.len > n)
		buf_puts(out, "...");
}

static enum creds_result ecs_fetch(const struct creds_ctx *ctx, struct creds *out, struct err *err)
{
	const char *rel = sys_env(ctx->sys, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = sys_env(ctx->sys, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	enum creds_result r = CREDS_FAILED;
	struct buf url = BUF_INIT, msg = BUF_INIT;
	struct http_response resp = {0};
	char *token = NULL;
	struct err perr;

	if (!rel && !full)
		return CREDS_NOT_HERE;
	if (rel) {
		/* The relative form always means the ECS agent's address. */
		buf_printf(&url, "http://" ECS_HOST "%s%s", rel[0] == '/' ? "" : "/", rel);
	} else {
		if (creds_ecs_url_allowed(full, err) != 0)
			goto out;
		buf_puts(&url, full);
		if (auth_token(ctx->sys, &token, err) != 0)
			goto out;
	}
	if (!ctx->http) {
		err_set(err, "container credentials are configured but no HTTP client is available");
		goto out;
	}

	struct http_header headers[2] = {{"Accept", "application/json"}, {"Authorization", token}};
	struct http_request req = {
	    .method = "GET",
	    .url = url.data,
	    .headers = headers,
	    .n_headers = token ? 2 : 1,
	    .timeout_ms = 3000,
	    .connect_timeout_ms = 1000,
	    .max_body = HTTP_BODY_CREDENTIALS,
	    .direct = true,
	};
	if (creds_http_retry(ctx, &req, &resp, 4, "the ECS container credentials endpoint", err) != 0)
		goto out;
	/* An endpoint that echoes the request must not get the token into the
	 * sentences below, which quote the answer. */
	if (token)
		log_redact(&resp.body, token, "[authorization token]");
	if (resp.status != 200) {
		excerpt(span_of(resp.body.data, resp.body.len), &msg);
		err_set(err, "the ECS container credentials endpoint (%s) answered HTTP %ld%s%s%s", url.data,
			resp.status, msg.len ? ": " : "", buf_cstr(&msg),
			resp.status == 401 || resp.status == 403 ? "; check the authorization token" : "");
		goto out;
	}
	if (creds_parse_json(span_of(resp.body.data, resp.body.len), out, &perr) != 0) {
		err_set(err, "the ECS container credentials endpoint (%s) gave an unusable answer: %s",
			url.data, perr.msg);
		goto out;
	}
	r = CREDS_OK;
out:
	buf_free_secret(&resp.body); /* it held the credentials */
	http_response_free(&resp);
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	buf_free(&url);
	buf_free(&msg);
	return r;
}

const struct creds_provider creds_ecs_provider = {"container", ecs_fetch};
