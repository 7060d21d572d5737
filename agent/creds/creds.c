/* The credential chain: walk the providers in the SDKs' order, keep what the
 * first one yields, and fetch again before it expires. */
#include "agent/creds/creds.h"

#include "agent/answer.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The SDKs refresh 5 to 15 minutes ahead; 5 is what the contract promises. */
#define REFRESH_AHEAD_MS (5 * 60 * 1000)
/* After a failed refresh, how long the current credentials are used before
 * the next attempt. */
#define REFRESH_RETRY_MS (30 * 1000)
/* Retries of one credentials request stop once this much time has passed. */
#define RETRY_BUDGET_MS 3000

void creds_clear(struct creds *c)
{
	if (!c)
		return;
	/* Secrets should not linger in freed heap memory. */
	if (c->secret_key)
		explicit_bzero(c->secret_key, strlen(c->secret_key));
	if (c->session_token)
		explicit_bzero(c->session_token, strlen(c->session_token));
	free(c->access_key);
	free(c->secret_key);
	free(c->session_token);
	c->access_key = c->secret_key = c->session_token = NULL;
	c->expires_ms = 0;
}

/* Set once from the command line, before any chain exists. */
static const char *explicit_profile;

void creds_use_profile(const char *name)
{
	explicit_profile = name && *name ? name : NULL;
}

bool creds_profile_explicit(void)
{
	return explicit_profile != NULL;
}

const char *creds_profile_name(const struct sys *sys)
{
	if (explicit_profile)
		return explicit_profile;
	const char *p = sys_env(sys, "AWS_PROFILE");
	return p ? p : "default";
}

int creds_check_printable(const struct creds *c, const char *source, struct err *err)
{
	const struct {
		const char *v, *name;
	} parts[] = {{c->access_key, "access key id"}, {c->secret_key, "secret key"}, {c->session_token, "session token"}};
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		if (!parts[i].v)
			continue;
		for (const unsigned char *p = (const unsigned char *)parts[i].v; *p; p++)
			if (*p <= ' ' || *p >= 0x7f)
				return err_set(err,
					       "the %s from %s has a byte outside printable ASCII (0x%02x at offset %zu): "
					       "fix what produces it",
					       parts[i].name, source, *p, (size_t)(p - (const unsigned char *)parts[i].v));
	}
	return 0;
}

static const struct creds_provider *const chain_order[] = {
    &creds_env_provider, &creds_web_identity_provider, &creds_profile_provider,
    &creds_ecs_provider, &creds_imds_provider,
};

struct creds_chain {
	const struct sys *sys;
	struct http *http;
	struct creds cur;
	bool have;
	const char *source;
	int64_t retry_after_ms; /* after a failed refresh: keep cur until then */
	int64_t deadline_ms;    /* of the fetch in progress, 0: none */
};

struct creds_chain *creds_chain_new(const struct sys *sys, struct http *http)
{
	struct creds_chain *ch = xcalloc(1, sizeof *ch);
	ch->sys = sys;
	ch->http = http;
	return ch;
}

void creds_chain_free(struct creds_chain *ch)
{
	if (!ch)
		return;
	creds_clear(&ch->cur);
	free(ch);
}

void creds_chain_invalidate(struct creds_chain *ch)
{
	/* Called after ExpiredToken: what we hold is refused, so it is no use
	 * even as a fallback. */
	creds_clear(&ch->cur);
	ch->have = false;
	ch->source = NULL;
}

const char *creds_chain_source(const struct creds_chain *ch)
{
	return ch->source ? ch->source : "none";
}

/* Walks the chain once.  Returns the provider that yielded, or NULL with err
 * set (by the provider that failed, or the "nothing found" sentence). */
static const struct creds_provider *chain_fetch(struct creds_chain *ch, struct creds *out, struct err *err)
{
	struct creds_ctx ctx = {ch->sys, ch->http, creds_profile_name(ch->sys), ch->deadline_ms};

	for (size_t i = 0; i < sizeof chain_order / sizeof chain_order[0]; i++) {
		const struct creds_provider *p = chain_order[i];
		/* As the AWS CLI does: a profile named on the command line is
		 * asked for, so keys in the environment must not win over it. */
		if (explicit_profile && p == &creds_env_provider) {
			log_debug("credentials: environment: skipped, --profile %s was given", explicit_profile);
			continue;
		}
		struct err perr = {""};
		enum creds_result r = p->fetch(&ctx, out, &perr);
		if (r == CREDS_OK)
			return p;
		creds_clear(out);
		if (r == CREDS_FAILED) {
			/* Like the SDKs: a provider that is configured but broken
			 * stops the chain, so a typo does not silently fall through
			 * to other (maybe more powerful) credentials. */
			if (err)
				*err = perr;
			return NULL;
		}
		log_debug("credentials: %s: nothing there%s%s%s", p->name, perr.msg[0] ? " (" : "", perr.msg,
			  perr.msg[0] ? ")" : "");
	}
	err_set(err, "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
		     "or run with a task role");
	return NULL;
}

static bool fresh(const struct creds_chain *ch, int64_t now)
{
	if (!ch->have)
		return false;
	if (ch->cur.expires_ms == 0 || now < ch->cur.expires_ms - REFRESH_AHEAD_MS)
		return true;
	return now < ch->retry_after_ms && now < ch->cur.expires_ms;
}

int creds_chain_get(struct creds_chain *ch, const struct creds **out, struct err *err)
{
	return creds_chain_get_until(ch, 0, out, err);
}

int creds_chain_get_until(struct creds_chain *ch, int64_t deadline_ms, const struct creds **out, struct err *err)
{
	int64_t now = ch->sys->wall_ms();
	if (fresh(ch, now)) {
		*out = &ch->cur;
		return 0;
	}

	struct creds got = {0};
	struct err ferr = {""};
	ch->deadline_ms = deadline_ms;
	const struct creds_provider *p = chain_fetch(ch, &got, &ferr);
	ch->deadline_ms = 0;
	/* Keys and tokens become request headers: a CR or LF from any
	 * provider (an endpoint's answer, a variable, a file) would add
	 * headers of its own, so every source is held to printable ASCII. */
	if (p && creds_check_printable(&got, p->name, &ferr) != 0) {
		creds_clear(&got);
		p = NULL;
	}
	if (!p) {
		if (ch->have && now < ch->cur.expires_ms) {
			/* Not on every call: each attempt may cost seconds of
			 * retries, and the old credentials still work. */
			ch->retry_after_ms = now + REFRESH_RETRY_MS;
			log_warn(
			    "could not refresh the AWS credentials, using the current ones until they expire "
			    "in %lld s: %s",
			    (long long)((ch->cur.expires_ms - now) / 1000), ferr.msg);
			*out = &ch->cur;
			return 0;
		}
		creds_chain_invalidate(ch);
		if (err)
			*err = ferr;
		return -1;
	}

	bool refresh = ch->have;
	creds_clear(&ch->cur);
	ch->cur = got;
	ch->have = true;
	ch->source = p->name;
	ch->retry_after_ms = 0;
	if (got.expires_ms) {
		long long left = (long long)((got.expires_ms - now) / 1000);
		if (refresh)
			log_info("refreshed the AWS credentials from %s (they expire in %lld s)", p->name,
				 left);
		else
			log_debug("AWS credentials from %s (they expire in %lld s)", p->name, left);
	} else if (refresh) {
		log_info("refreshed the AWS credentials from %s", p->name);
	} else {
		log_debug("AWS credentials from %s", p->name);
	}
	*out = &ch->cur;
	return 0;
}

/* ---- shared by the providers ---- */

static bool transient(const struct http_response *resp)
{
	switch (resp->failure) {
	case HTTP_OK:
		return resp->status >= 500;
	case HTTP_CONNECT:
	case HTTP_TIMEOUT:
	case HTTP_BROKEN:
		return true;
	default:
		return false;
	}
}

static void describe_failure(const struct http_response *resp, struct buf *b)
{
	if (resp->failure == HTTP_OK) {
		buf_printf(b, "HTTP %ld", resp->status);
		return;
	}
	static const char *const names[] = {
	    [HTTP_CONNECT] = "could not connect", [HTTP_TIMEOUT] = "timed out",
	    [HTTP_BROKEN] = "connection broken",  [HTTP_TLS] = "TLS handshake refused",
	    [HTTP_REFUSED_URL] = "URL refused",
	};
	unsigned f = (unsigned)resp->failure;
	buf_puts(b, f < sizeof names / sizeof names[0] && names[f] ? names[f] : "transport error");
	if (resp->error[0])
		buf_printf(b, " (%.200s)", resp->error);
}

int creds_http_retry(const struct creds_ctx *ctx, const struct http_request *req, struct http_response *resp,
		     int attempts, const char *what, struct err *err)
{
	/* Short, because the agent is waiting to report: 0.25 + 0.5 + 1 s
	 * between four attempts stays under 2 s of sleeping. */
	int64_t delay = 250, start = ctx->sys->mono_ms();
	int64_t deadline = ctx->deadline_ms;
	struct http_request capped = *req;
	int n;
	for (n = 1;; n++) {
		if (n > 1)
			http_response_free(resp);
		if (deadline) {
			int64_t left = deadline - ctx->sys->mono_ms();
			if (left <= 0)
				return err_set(err, "could not get credentials from %s (%s): the deadline passed%s",
					       what, req->url, n > 1 ? " while retrying" : " before it was asked");
			if (left < capped.timeout_ms || capped.timeout_ms <= 0)
				capped.timeout_ms = (long)left;
			if (capped.connect_timeout_ms > capped.timeout_ms)
				capped.connect_timeout_ms = capped.timeout_ms;
		}
		if (http_perform(ctx->http, &capped, resp) != 0)
			return err_set(err, "internal error: bad HTTP request to %s", what);
		if (!transient(resp))
			break;
		/* A slow endpoint must not stretch the retries beyond the
		 * budget either (a heartbeat holds the loop at most 5 s). */
		if (n >= attempts || ctx->sys->mono_ms() - start + delay > RETRY_BUDGET_MS)
			break;
		if (deadline && ctx->sys->mono_ms() + delay >= deadline)
			break;
		if (log_enabled(LOG_DEBUG)) {
			struct buf why = BUF_INIT;
			describe_failure(resp, &why);
			log_debug("credentials: %s: attempt %d failed (%s), retrying", what, n, why.data);
			buf_free(&why);
		}
		ctx->sys->sleep_ms(delay);
		delay *= 2;
	}
	if (resp->failure == HTTP_OK && resp->status < 500)
		return 0;
	struct buf b = BUF_INIT;
	describe_failure(resp, &b);
	err_set(err, "could not get credentials from %s (%s): %s%s", what, req->url, buf_cstr(&b),
		n > 1 ? ", even after retrying" : "");
	buf_free(&b);
	return -1;
}

/* ---- ISO 8601 ---- */

static int digits(const char **p, const char *end, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (*p >= end || **p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return 0;
}

static int expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return -1;
	(*p)++;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): no dependence on TZ or on the width of time_t. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

int iso8601_parse_ms(struct span s, int64_t *out_ms)
{
	const char *p = s.ptr, *end = s.ptr + s.len;
	int y, mo, d, h, mi, sec, ms = 0;

	if (digits(&p, end, 4, &y) || expect(&p, end, '-') || digits(&p, end, 2, &mo) ||
	    expect(&p, end, '-') || digits(&p, end, 2, &d))
		return -1;
	if (p >= end || (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p++;
	if (digits(&p, end, 2, &h) || expect(&p, end, ':') || digits(&p, end, 2, &mi) ||
	    expect(&p, end, ':') || digits(&p, end, 2, &sec))
		return -1;
	if (p < end && (*p == '.' || *p == ',')) {
		p++;
		int n = 0;
		for (; p < end && *p >= '0' && *p <= '9'; p++, n++)
			if (n < 3)
				ms = ms * 10 + (*p - '0');
		if (n == 0)
			return -1;
		for (; n < 3; n++)
			ms *= 10;
	}
	int offset_min = 0;
	if (p < end && (*p == 'Z' || *p == 'z')) {
		p++;
	} else if (p < end && (*p == '+' || *p == '-')) {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, end, 2, &oh))
			return -1;
		if (p < end && *p == ':')
			p++;
		if (digits(&p, end, 2, &om) || oh > 23 || om > 59)
			return -1;
		offset_min = sign * (oh * 60 + om);
	} else {
		return -1; /* without a zone the instant is ambiguous */
	}
	if (p != end)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
		return -1;
	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
	*out_ms = t * 1000 + ms;
	return 0;
}

/* ---- the JSON of the container endpoint and IMDS ---- */

int creds_parse_json(struct span body, struct creds *out, struct err *err)
{
	int rc = -1;
	creds_clear(out);
	cJSON *root = cJSON_ParseWithLength(body.ptr, body.len);
	if (!cJSON_IsObject(root)) {
		err_set(err, "the credentials answer is not a JSON object");
		goto out;
	}
	/* IMDS says "Code": "Success"; anything else is its error. */
	const char *code = json_str(root, "Code");
	if (code && strcmp(code, "Success") != 0) {
		const char *msg = json_str(root, "Message");
		err_set(err, "the credentials endpoint answered %.100s%s%.300s", code, msg ? ": " : "",
			msg ? msg : "");
		goto out;
	}
	const char *ak = json_str(root, "AccessKeyId");
	const char *sk = json_str(root, "SecretAccessKey");
	const char *tok = json_str(root, "Token");
	const char *exp = json_str(root, "Expiration");
	if (!ak || !sk) {
		const char *msg = json_str(root, "message");
		if (!msg)
			msg = json_str(root, "Message");
		err_set(err, "the credentials answer has no %s%s%.300s",
			!ak ? "AccessKeyId" : "SecretAccessKey", msg ? "; it says: " : "", msg ? msg : "");
		goto out;
	}
	int64_t exp_ms = 0;
	if (exp && iso8601_parse_ms(span_str(exp), &exp_ms) != 0) {
		err_set(err,
			"the credentials answer has an Expiration that is not an ISO 8601 time: \"%.64s\"",
			exp);
		goto out;
	}
	out->access_key = xstrdup(ak);
	out->secret_key = xstrdup(sk);
	out->session_token = tok ? xstrdup(tok) : NULL;
	out->expires_ms = exp_ms;
	rc = 0;
out:
	if (root) {
		/* The parsed tree holds the secret too. */
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "SecretAccessKey");
		if (cJSON_IsString(v))
			explicit_bzero(v->valuestring, strlen(v->valuestring));
		v = cJSON_GetObjectItemCaseSensitive(root, "Token");
		if (cJSON_IsString(v))
			explicit_bzero(v->valuestring, strlen(v->valuestring));
	}
	cJSON_Delete(root);
	return rc;
}

/* ---- files ---- */

int creds_read_file(const char *path, size_t max, struct buf *out, struct err *err)
{
	buf_reset(out);
	/* Non-blocking, and regular files (or a character device: /dev/null
	 * is the usual way to say "no file") only: a FIFO named by mistake
	 * would otherwise block the agent forever. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		return err_set(err, "cannot open %s: %s", path, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
		close(fd);
		return err_set(err, "%s is not a regular file: point the setting at the file itself", path);
	}
	int rc = 0;
	char chunk[4096];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(err, "cannot read %s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (out->len + (size_t)n > max) {
			rc = err_set(err, "%s is larger than %zu bytes; is it the right file?", path, max);
			break;
		}
		buf_append(out, chunk, (size_t)n);
	}
	if (close(fd) != 0 && rc == 0)
		rc = err_set(err, "cannot read %s: %s", path, strerror(errno));
	if (rc != 0)
		buf_reset(out);
	return rc;
}
