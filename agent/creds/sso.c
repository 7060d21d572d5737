/* IAM Identity Center (SSO) profiles: the token `aws sso login` cached in
 * ~/.aws/sso/cache/, exchanged at the portal's GetRoleCredentials for keys
 * of the profile's account and role.  The login itself (a browser) is the
 * AWS CLI's job: when the token is missing or expired, say which command
 * renews it. */
#include "agent/creds/creds.h"

#include "agent/answer.h"
#include "agent/endpoint.h"
#include "base/log.h"
#include "base/posix.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SSO_CACHE_MAX (256 * 1024)

char *creds_sso_cache_path(const struct sys *sys, const char *key)
{
	const char *home = sys_env(sys, "HOME");
	if (!home)
		return NULL;
	/* The CLI names the file after the SHA-1 of the sso_session name (or of
	 * the start URL, for legacy profiles), in lower-case hex. */
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (EVP_Digest(key, strlen(key), md, &n, EVP_sha1(), NULL) != 1)
		return NULL;
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s/.aws/sso/cache/", home);
	for (unsigned i = 0; i < n; i++)
		buf_printf(&b, "%02x", md[i]);
	buf_puts(&b, ".json");
	return buf_steal(&b);
}

/* expiresAt as the CLI writes it ("2026-12-01T20:00:00Z"); CLI v1 wrote
 * "2026-12-01T20:00:00UTC". */
static int expires_at(const char *s, int64_t *ms)
{
	size_t n = strlen(s);
	if (n > 3 && strcmp(s + n - 3, "UTC") == 0) {
		char tmp[64];
		if (n - 3 >= sizeof tmp - 1)
			return -1;
		memcpy(tmp, s, n - 3);
		tmp[n - 3] = 'Z';
		tmp[n - 2] = '\0';
		return iso8601_parse_ms(span_str(tmp), ms);
	}
	return iso8601_parse_ms(span_str(s), ms);
}

/* Like botocore: a token with less than this left is refreshed when the
 * cache has what it takes (a refresh token and the client registration). */
#define SSO_REFRESH_WINDOW_MS (15 * 60 * 1000)

static char *oidc_endpoint(const struct sys *sys, const char *region)
{
	const char *v = sys_env(sys, "AWS_ENDPOINT_URL_SSO_OIDC");
	if (!v)
		v = sys_env(sys, "AWS_ENDPOINT_URL");
	struct buf b = BUF_INIT;
	if (v)
		buf_puts(&b, v);
	else
		buf_printf(&b, "https://oidc.%s.%s", region, partition_dns_suffix(region));
	while (b.len && b.data[b.len - 1] == '/')
		b.data[--b.len] = '\0';
	return buf_steal(&b);
}

static void bzero_strings(cJSON *o)
{
	for (cJSON *v = o ? o->child : NULL; v; v = v->next)
		if (cJSON_IsString(v))
			explicit_bzero(v->valuestring, strlen(v->valuestring));
}

/* Writes the cache back as the CLI does, so the next reader (the CLI, or
 * this agent's next refresh) has the new tokens: to a temporary file, then
 * renamed over the old one. */
static void write_cache(const char *path, const cJSON *root)
{
	char *text = cJSON_PrintUnformatted(root);
	struct buf tmp = BUF_INIT;
	buf_printf(&tmp, "%s.tmp-%ld", path, (long)getpid());
	int fd = text ? open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
	bool ok = fd >= 0 && write_all(fd, text, strlen(text)) == 0;
	if (fd >= 0 && close(fd) != 0)
		ok = false;
	if (ok && rename(tmp.data, path) != 0)
		ok = false;
	if (!ok) {
		log_warn("could not write the refreshed SSO login to %s (%s): the next run will refresh it again", path,
			 strerror(errno));
		if (fd >= 0)
			unlink(tmp.data);
	}
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	buf_free(&tmp);
}

/* SSO OIDC CreateToken with the cached refresh token.  0 with root's
 * accessToken, expiresAt (and refreshToken) replaced and the cache written
 * back, or -1 with err. */
static int refresh_token(const struct creds_ctx *ctx, const struct creds_sso *s, cJSON *root, const char *path,
			 int64_t *exp_ms, struct err *err)
{
	int rc = -1;
	char *endpoint = oidc_endpoint(ctx->sys, s->sso_region), *body = NULL;
	struct buf url = BUF_INIT;
	struct http_response resp = {0};
	cJSON *req_json = cJSON_CreateObject(), *ans = NULL;

	if (!ctx->http) {
		err_set(err, "no HTTP client is available");
		goto out;
	}
	cJSON_AddStringToObject(req_json, "clientId", json_str(root, "clientId"));
	cJSON_AddStringToObject(req_json, "clientSecret", json_str(root, "clientSecret"));
	cJSON_AddStringToObject(req_json, "grantType", "refresh_token");
	cJSON_AddStringToObject(req_json, "refreshToken", json_str(root, "refreshToken"));
	body = cJSON_PrintUnformatted(req_json);
	buf_printf(&url, "%s/token", endpoint);
	static const struct http_header headers[] = {{"Content-Type", "application/json"}};
	struct http_request req = {
	    .method = "POST",
	    .url = url.data,
	    .headers = headers,
	    .n_headers = 1,
	    .body = body,
	    .body_len = body ? strlen(body) : 0,
	    .timeout_ms = 10000,
	    .connect_timeout_ms = 3000,
	    .max_body = HTTP_BODY_CREDENTIALS,
	};
	if (creds_http_retry(ctx, &req, &resp, 3, "SSO OIDC (CreateToken)", err) != 0)
		goto out;
	ans = cJSON_ParseWithLength(resp.body.data, resp.body.len);
	const char *tok = json_str(ans, "accessToken");
	const char *refresh = json_str(ans, "refreshToken");
	const cJSON *in = cJSON_GetObjectItemCaseSensitive(ans, "expiresIn");
	if (resp.status != 200 || !tok || !cJSON_IsNumber(in) || in->valuedouble <= 0) {
		const char *code = json_str(ans, "error");
		err_set(err, "SSO OIDC CreateToken answered HTTP %ld%s%.100s", resp.status, code ? ": " : "",
			code ? code : "");
		goto out;
	}
	int64_t exp = ctx->sys->wall_ms() + (int64_t)in->valuedouble * 1000;
	time_t t = (time_t)(exp / 1000);
	struct tm tm;
	char when[32];
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* The old tokens are freed by the replacements: zeroed first. */
	static const char *const secrets[] = {"accessToken", "refreshToken"};
	for (size_t i = 0; i < 2; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, secrets[i]);
		if (cJSON_IsString(v) && (i == 0 || refresh))
			explicit_bzero(v->valuestring, strlen(v->valuestring));
	}
	cJSON_ReplaceItemInObjectCaseSensitive(root, "accessToken", cJSON_CreateString(tok));
	if (cJSON_GetObjectItemCaseSensitive(root, "expiresAt"))
		cJSON_ReplaceItemInObjectCaseSensitive(root, "expiresAt", cJSON_CreateString(when));
	if (refresh)
		cJSON_ReplaceItemInObjectCaseSensitive(root, "refreshToken", cJSON_CreateString(refresh));
	write_cache(path, root);
	*exp_ms = exp;
	rc = 0;
out:
	bzero_strings(req_json);
	bzero_strings(ans);
	cJSON_Delete(req_json);
	cJSON_Delete(ans);
	if (body) {
		explicit_bzero(body, strlen(body));
		free(body);
	}
	buf_free_secret(&resp.body);
	http_response_free(&resp);
	buf_free(&url);
	free(endpoint);
	return rc;
}

static bool can_refresh(const struct creds_ctx *ctx, const struct creds_sso *s, const cJSON *root)
{
	/* The SDKs refresh only tokens of sso_session profiles: legacy ones
	 * have no registration of their own. */
	if (!s->session_name || !json_str(root, "refreshToken") || !json_str(root, "clientId") ||
	    !json_str(root, "clientSecret"))
		return false;
	const char *reg = json_str(root, "registrationExpiresAt");
	int64_t reg_ms;
	return !reg || expires_at(reg, &reg_ms) != 0 || reg_ms > ctx->sys->wall_ms();
}

/* The cached access token, or -1 with err (ending in the login command). */
static int load_token(const struct creds_ctx *ctx, const struct creds_sso *s, struct buf *token, struct err *err)
{
	const char *key = s->session_name ? s->session_name : s->start_url;
	char *path = creds_sso_cache_path(ctx->sys, key);
	struct buf text = BUF_INIT;
	struct err rerr = {""};
	cJSON *root = NULL;
	int rc = -1;

	if (!path) {
		err_set(err, "the AWS profile \"%s\" uses SSO but HOME is not set, so its cached login cannot be found",
			s->profile);
		goto out;
	}
	int r = creds_read_file(path, SSO_CACHE_MAX, &text, &rerr);
	if (r == 1) {
		err_set(err, "the AWS profile \"%s\" uses SSO but there is no cached login (%s): run aws sso login "
			     "--profile %s",
			s->profile, path, s->profile);
		goto out;
	}
	if (r != 0) {
		err_set(err, "the AWS profile \"%s\" uses SSO: %s", s->profile, rerr.msg);
		goto out;
	}
	root = cJSON_ParseWithLength(text.data, text.len);
	const char *tok = cJSON_IsObject(root) ? json_str(root, "accessToken") : NULL;
	const char *exp = cJSON_IsObject(root) ? json_str(root, "expiresAt") : NULL;
	int64_t exp_ms = 0;
	/* Each fault said as such, so the reader knows whether a fresh
	 * login will do. */
	const char *fault = !cJSON_IsObject(root)			       ? "is not JSON"
			    : creds_json_has_nul_escape(span_of(text.data, text.len)) ? "holds a NUL character (\\u0000)"
			    : !tok						       ? "has no accessToken"
			    : !exp						       ? "has no expiresAt"
			    : expires_at(exp, &exp_ms) != 0			       ? "has an expiresAt that is not a time"
											       : NULL;
	if (fault) {
		err_set(err, "the cached SSO login %s of the AWS profile \"%s\" %s: run aws sso login --profile %s", path,
			s->profile, fault, s->profile);
		goto out;
	}
	int64_t now = ctx->sys->wall_ms();
	if (exp_ms - now < SSO_REFRESH_WINDOW_MS && can_refresh(ctx, s, root)) {
		struct err ferr = {""};
		if (refresh_token(ctx, s, root, path, &exp_ms, &ferr) == 0) {
			tok = json_str(root, "accessToken");
			log_info("refreshed the SSO login of the AWS profile \"%s\" (it expires in %lld s)", s->profile,
				 (long long)((exp_ms - now) / 1000));
		} else if (exp_ms > now) {
			log_warn("could not refresh the SSO login of the AWS profile \"%s\", using it until it expires "
				 "in %lld s: %s",
				 s->profile, (long long)((exp_ms - now) / 1000), ferr.msg);
		} else {
			err_set(err, "the SSO login of the AWS profile \"%s\" expired at %.64s and could not be refreshed "
				     "(%s): run aws sso login --profile %s",
				s->profile, exp, ferr.msg, s->profile);
			goto out;
		}
	}
	if (exp_ms <= now) {
		err_set(err, "the SSO login of the AWS profile \"%s\" expired at %.64s: run aws sso login --profile %s",
			s->profile, exp, s->profile);
		goto out;
	}
	/* It goes into a header: a CR or LF would add headers of its own. */
	struct creds t = {.session_token = (char *)tok};
	struct err perr = {""};
	if (creds_check_printable(&t, "the SSO cache", &perr) != 0) {
		err_set(err, "the cached SSO login %s of the AWS profile \"%s\": its accessToken (%s): run aws sso login "
			     "--profile %s",
			path, s->profile, perr.msg, s->profile);
		goto out;
	}
	buf_reset(token);
	buf_puts(token, tok);
	rc = 0;
out:
	bzero_strings(root);
	cJSON_Delete(root);
	buf_free_secret(&text);
	free(path);
	return rc;
}

static void query_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '_' || *p == '.' || *p == '~') {
			buf_putc(b, (char)*p);
		} else {
			buf_putc(b, '%');
			buf_putc(b, hex[*p >> 4]);
			buf_putc(b, hex[*p & 15]);
		}
	}
}

static char *portal_endpoint(const struct sys *sys, const char *region)
{
	const char *v = sys_env(sys, "AWS_ENDPOINT_URL_SSO");
	if (!v)
		v = sys_env(sys, "AWS_ENDPOINT_URL");
	struct buf b = BUF_INIT;
	if (v)
		buf_puts(&b, v);
	else
		buf_printf(&b, "https://portal.sso.%s.%s", region, partition_dns_suffix(region));
	while (b.len && b.data[b.len - 1] == '/')
		b.data[--b.len] = '\0';
	return buf_steal(&b);
}

int creds_sso_parse(struct span body, struct creds *out, struct err *err)
{
	int rc = -1;
	creds_clear(out);
	if (creds_json_has_nul_escape(body))
		return err_set(err, "the SSO portal's answer holds a NUL character (\\u0000), which no key has");
	cJSON *root = cJSON_ParseWithLength(body.ptr, body.len);
	const cJSON *rc_ = cJSON_GetObjectItemCaseSensitive(root, "roleCredentials");
	const char *ak = json_str(rc_, "accessKeyId");
	const char *sk = json_str(rc_, "secretAccessKey");
	const char *tok = json_str(rc_, "sessionToken");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(rc_, "expiration");
	if (!ak || !sk || !tok || !cJSON_IsNumber(exp) || exp->valuedouble <= 0) {
		err_set(err, "the SSO portal's answer has no roleCredentials with accessKeyId, secretAccessKey, "
			     "sessionToken and expiration");
		goto out;
	}
	out->access_key = xstrdup(ak);
	out->secret_key = xstrdup(sk);
	out->session_token = xstrdup(tok);
	out->expires_ms = (int64_t)exp->valuedouble; /* milliseconds since the epoch */
	rc = 0;
out:
	if (rc_) {
		const char *secrets[] = {"secretAccessKey", "sessionToken"};
		for (size_t i = 0; i < 2; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(rc_, secrets[i]);
			if (cJSON_IsString(v))
				explicit_bzero(v->valuestring, strlen(v->valuestring));
		}
	}
	cJSON_Delete(root);
	return rc;
}

int creds_sso_fetch(const struct creds_ctx *ctx, const struct creds_sso *s, struct creds *out, struct err *err)
{
	struct buf token = BUF_INIT, url = BUF_INIT;
	struct http_response resp = {0};
	struct err perr = {""};
	char *endpoint = NULL;
	int rc = -1;

	creds_clear(out);
	if (load_token(ctx, s, &token, err) != 0)
		goto out;
	if (!ctx->http) {
		err_set(err, "the AWS profile \"%s\" uses SSO but no HTTP client is available", s->profile);
		goto out;
	}
	endpoint = portal_endpoint(ctx->sys, s->sso_region);
	buf_printf(&url, "%s/federation/credentials?account_id=", endpoint);
	query_escape(&url, s->account_id);
	buf_puts(&url, "&role_name=");
	query_escape(&url, s->role_name);
	const struct http_header headers[] = {
	    {"x-amz-sso_bearer_token", token.data},
	    {"Accept", "application/json"},
	};
	struct http_request req = {
	    .method = "GET",
	    .url = url.data,
	    .headers = headers,
	    .n_headers = 2,
	    .timeout_ms = 10000,
	    .connect_timeout_ms = 3000,
	    .max_body = HTTP_BODY_CREDENTIALS,
	};
	if (creds_http_retry(ctx, &req, &resp, 3, "the SSO portal (GetRoleCredentials)", err) != 0)
		goto out;
	if (resp.status != 200) {
		cJSON *e = cJSON_ParseWithLength(resp.body.data, resp.body.len);
		const char *msg = json_str(e, "message");
		if (!msg)
			msg = json_str(e, "Message");
		if (resp.status == 401)
			err_set(err, "the SSO portal refused the cached login of the AWS profile \"%s\" (HTTP 401%s%.200s): "
				     "run aws sso login --profile %s",
				s->profile, msg ? ": " : "", msg ? msg : "", s->profile);
		else if (resp.status == 403)
			err_set(err, "the SSO portal gives the AWS profile \"%s\" no role %.100s in account %.20s (HTTP "
				     "403%s%.200s): fix sso_account_id and sso_role_name",
				s->profile, s->role_name, s->account_id, msg ? ": " : "", msg ? msg : "");
		else
			err_set(err, "the SSO portal answered HTTP %ld to GetRoleCredentials for the AWS profile \"%s\"%s%.200s",
				resp.status, s->profile, msg ? ": " : "", msg ? msg : "");
		cJSON_Delete(e);
		goto out;
	}
	if (creds_sso_parse(span_of(resp.body.data, resp.body.len), out, &perr) != 0 ||
	    creds_check_printable(out, "the SSO portal", &perr) != 0) {
		creds_clear(out);
		err_set(err, "the AWS profile \"%s\": %s", s->profile, perr.msg);
		goto out;
	}
	log_debug("credentials: profile \"%s\" from the SSO portal (account %s, role %s)", s->profile, s->account_id,
		  s->role_name);
	rc = 0;
out:
	buf_free_secret(&resp.body);
	http_response_free(&resp);
	buf_free_secret(&token);
	buf_free(&url);
	free(endpoint);
	return rc;
}
