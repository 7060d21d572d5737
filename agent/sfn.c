/* The Step Functions client: sign, send, read the error model, retry.
 *
 * Every decision about an answer lives in classify(), so the retry policy
 * reads in one place: throttling, 5xx and transport failures are retried
 * with capped exponential backoff and full jitter until the deadline; an
 * expired session token is fetched again once; a clock-skewed signature is
 * retried once at the server's time; everything else is final and gets a
 * class the caller can switch on. */
#include "agent/sfn.h"

#include "base/contract.h"
#include "base/json.h"
#include "base/log.h"
#include "agent/answer.h"
#include "agent/creds/creds.h"
#include "agent/endpoint.h"
#include "agent/region.h"
#include "agent/sigv4.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_ATTEMPT_MS 10000
#define CONNECT_TIMEOUT_MS 3000
#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS 5000
/* An attempt with less time than this cannot finish a TLS exchange, so the
 * last backoff is shortened to leave it, or the call gives up. */
#define MIN_ATTEMPT_MS 250
/* botocore's threshold for calling a refused signature clock skew. */
#define SKEW_THRESHOLD_MS (4 * 60 * 1000)

struct sfn_client {
	const struct sys *sys;
	struct http http;
	char *region;
	char *endpoint;
	char host[256];
	char *url;  /* endpoint + "/" */
	char *path; /* what is signed: the endpoint's path prefix + "/" */
	struct creds_chain *creds;
	long attempt_timeout_ms;
	int64_t skew_ms; /* server time minus ours, learnt from a skew refusal */
	const char *secret; /* the task token of the call in progress, redacted from answers */
	int64_t (*deadline_now)(void *ctx); /* cfg's: a deadline that may come closer */
	void *deadline_ctx;
};

void sfn_reply_free(struct sfn_reply *r)
{
	buf_free(&r->body);
}

static struct sfn_client *client_init(const struct sfn_client_config *cfg, struct http http, struct err *err)
{
	struct sfn_client *c = xcalloc(1, sizeof *c);
	c->sys = cfg->sys ? cfg->sys : &sys_real;
	c->http = http;
	c->attempt_timeout_ms = cfg->attempt_timeout_ms > 0 ? cfg->attempt_timeout_ms : DEFAULT_ATTEMPT_MS;
	c->deadline_now = cfg->deadline_now;
	c->deadline_ctx = cfg->deadline_ctx;

	c->region = region_resolve_until(c->sys, &c->http, cfg->region_fallback, cfg->deadline_ms, err);
	if (!c->region)
		goto fail;
	c->endpoint = endpoint_resolve(c->sys, "states", c->region, err);
	if (!c->endpoint)
		goto fail;
	if (endpoint_host(c->endpoint, c->host, sizeof c->host) != 0) {
		err_set(err, "the endpoint URL %s has no usable host: fix AWS_ENDPOINT_URL_SFN", c->endpoint);
		goto fail;
	}
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s/", c->endpoint);
	c->url = buf_steal(&b);
	buf_printf(&b, "%s/", endpoint_path(c->endpoint));
	c->path = buf_steal(&b);
	c->creds = creds_chain_new(c->sys, &c->http);
	return c;
fail:
	sfn_client_free(c);
	return NULL;
}

/* SFN_AGENT_HTTP_TIMEOUT (whole seconds, 1-300) shortens the per-attempt
 * limit, so tests of a server that never answers need not wait 10 s per
 * attempt.  Not in --help: production has no reason to touch it.  A value
 * out of range is ignored rather than fatal. */
static long attempt_timeout_from_env(const struct sys *sys)
{
	const char *v = sys_env(sys, "SFN_AGENT_HTTP_TIMEOUT");
	if (!v)
		return 0;
	char *end;
	long s = strtol(v, &end, 10);
	if (*end || s < 1 || s > 300)
		return 0;
	return s * 1000;
}

struct sfn_client *sfn_client_new(const struct sfn_client_config *cfg, struct err *err)
{
	const struct sys *sys = cfg->sys ? cfg->sys : &sys_real;
	struct sfn_client_config c = *cfg;
	if (c.attempt_timeout_ms <= 0)
		c.attempt_timeout_ms = attempt_timeout_from_env(sys);
	struct http http = { NULL, NULL };
	if (http_curl_new(&http, ca_file_resolve(sys), err) != 0)
		return NULL;
	return client_init(&c, http, err);
}

struct sfn_client *sfn_client_new_with_http(const struct sfn_client_config *cfg, struct http http,
					    struct err *err)
{
	return client_init(cfg, http, err);
}

void sfn_client_free(struct sfn_client *c)
{
	if (!c)
		return;
	if (c->creds)
		creds_chain_free(c->creds);
	http_free(&c->http);
	free(c->region);
	free(c->endpoint);
	free(c->url);
	free(c->path);
	free(c);
}

const char *sfn_client_region(const struct sfn_client *c)
{
	return c->region;
}

const char *sfn_client_endpoint(const struct sfn_client *c)
{
	return c->endpoint;
}

struct http *sfn_client_http(struct sfn_client *c)
{
	return &c->http;
}

/* ---- the error model ---- */

static void copy_clean(char *dst, size_t size, const char *src, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; i < n && j + 1 < size; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[j++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
	}
	dst[j] = '\0';
}

/* A message is cut to what the reply keeps only after the secret it may
 * quote is redacted: cut first, a long token would keep hundreds of its
 * characters.  This much of a message is scrubbed: a token (at most 2,048
 * characters) that starts in the part kept lies within it. */
#define MESSAGE_SCRUB_SPAN 4096

static void copy_redacted(char *dst, size_t size, const char *src, size_t n, const char *secret)
{
	struct buf b = BUF_INIT;
	char fp[16];
	buf_append(&b, src, n < MESSAGE_SCRUB_SPAN ? n : MESSAGE_SCRUB_SPAN);
	if (secret) {
		token_fingerprint(secret, fp);
		log_redact(&b, secret, fp);
	}
	/* The credentials and signature the request carried. */
	log_redact_known(&b);
	copy_clean(dst, size, buf_cstr(&b), b.len);
	buf_free(&b);
}

/* "com.amazonaws.swf.base.model#InvalidToken" and the header form
 * "InvalidToken:http://internal.amazon.com/..." both name InvalidToken. */
static void set_code(struct sfn_reply *r, const char *code, const char *secret)
{
	const char *hash = strrchr(code, '#');
	if (hash)
		code = hash + 1;
	copy_redacted(r->code, sizeof r->code, code, strcspn(code, ":"), secret);
}

/* AWS JSON 1.0 errors are {"__type": "...#Code", "message": "..."}; some
 * front ends (and moto's auth layer) answer XML with <Code> and <Message>. */
static void parse_error(const struct buf *body, struct sfn_reply *r, const char *secret)
{
	static const char *const code_keys[] = { "__type", "code", "Code", NULL };
	static const char *const msg_keys[] = { "message", "Message", "errorMessage", NULL };
	r->code[0] = '\0';
	r->message[0] = '\0';
	if (body->len == 0)
		return;
	cJSON *root = cJSON_ParseWithLength(body->data, body->len);
	if (cJSON_IsObject(root)) {
		const char *code = json_str_any(root, code_keys);
		const char *msg = json_str_any(root, msg_keys);
		if (code)
			set_code(r, code, secret);
		if (msg)
			copy_redacted(r->message, sizeof r->message, msg, strlen(msg), secret);
		cJSON_Delete(root);
		return;
	}
	cJSON_Delete(root);
	struct buf text = BUF_INIT;
	if (xml_text(span_of(body->data, body->len), "Code", &text))
		set_code(r, buf_cstr(&text), secret);
	if (xml_text(span_of(body->data, body->len), "Message", &text))
		copy_redacted(r->message, sizeof r->message, buf_cstr(&text), text.len, secret);
	buf_free(&text);
}

void sfn_parse_error(const struct buf *body, struct sfn_reply *r)
{
	parse_error(body, r, NULL);
}

static bool code_in(const char *code, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(code, *list) == 0)
			return true;
	return false;
}

static const char *const throttle_codes[] = {
	"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
	"TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
	"RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
	"SlowDown", "PriorRequestNotComplete", "EC2ThrottledException", NULL,
};
static const char *const token_dead_codes[] = { "InvalidToken", "TaskDoesNotExist", "TaskTimedOut", NULL };
static const char *const auth_codes[] = {
	"InvalidSignatureException", "UnrecognizedClientException", "IncompleteSignature",
	"IncompleteSignatureException", "SignatureDoesNotMatch", "InvalidClientTokenId",
	"MissingAuthenticationToken", "MissingAuthenticationTokenException", "AuthFailure",
	"InvalidAccessKeyId", "RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture", NULL,
};
static const char *const skew_codes[] = { "RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture", NULL };
static const char *const expired_codes[] = { "ExpiredToken", "ExpiredTokenException", NULL };
static const char *const transient_codes[] = {
	"ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalServerError",
	"InternalError", "RequestTimeout", "RequestTimeoutException", NULL,
};

static bool message_has(const char *msg, const char *needle)
{
	return strcasestr(msg, needle) != NULL;
}

static bool is_skew_message(const char *msg)
{
	return message_has(msg, "signature expired") || message_has(msg, "not yet current") ||
	       message_has(msg, "too skewed") || message_has(msg, "RequestTimeTooSkewed") ||
	       message_has(msg, "clock skew");
}

/* "Sat, 21 Nov 2026 12:34:56 GMT" (RFC 7231 IMF-fixdate) to epoch ms,
 * without strptime, whose month names follow the locale. */
static int http_date_ms(const char *s, int64_t *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *comma = strchr(s, ',');
	if (!comma)
		return -1;
	int day, year, hh, mm, ss, n = 0;
	char mon[4];
	if (sscanf(comma + 1, " %d %3s %d %d:%d:%d GMT%n", &day, mon, &year, &hh, &mm, &ss, &n) != 6 || n == 0)
		return -1;
	const char *m = strstr(months, mon);
	if (strlen(mon) != 3 || !m || (m - months) % 3 != 0)
		return -1;
	struct tm tm = { 0 };
	tm.tm_year = year - 1900;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || year < 1970)
		return -1;
	*out = (int64_t)timegm(&tm) * 1000;
	return 0;
}

enum next_step { STEP_DONE, STEP_RETRY_NOW, STEP_BACKOFF };

struct call_state {
	const char *op;
	int backoffs;
	bool skew_retried;
	bool expired_retried;
	char what[320]; /* the last failure, for the retry log line */
	int64_t told_ms; /* when info last said the call is retried; 0: not yet */
};

/* At info a call that keeps failing shows its first retry, then one line at
 * most this often, so an endpoint that is down does not flood the task's log;
 * every attempt is at debug. */
#define RETRY_NOTE_MS 10000

static enum next_step classify_transport(struct sfn_client *c, const struct http_response *resp,
					 struct sfn_reply *r, struct call_state *st)
{
	(void)c;
	r->http_status = 0;
	r->code[0] = '\0';
	copy_clean(r->message, sizeof r->message, resp->error, strlen(resp->error));
	if (resp->maybe_sent)
		r->maybe_delivered = true;
	switch (resp->failure) {
	case HTTP_TLS:
		r->local = SFN_LOCAL_TLS;
		r->outcome = SFN_REFUSED;
		return STEP_DONE;
	case HTTP_REFUSED_URL:
		r->local = SFN_LOCAL_ENDPOINT;
		r->outcome = SFN_REFUSED;
		return STEP_DONE;
	case HTTP_CONNECT:
		snprintf(st->what, sizeof st->what, "cannot connect (%s)", resp->error);
		break;
	case HTTP_TIMEOUT:
		snprintf(st->what, sizeof st->what, "no answer in time (%s)", resp->error);
		break;
	default:
		snprintf(st->what, sizeof st->what, "connection broken (%s)", resp->error);
		break;
	}
	r->outcome = SFN_GAVE_UP;
	return STEP_BACKOFF;
}

static enum next_step classify(struct sfn_client *c, const struct http_response *resp, struct sfn_reply *r,
			       struct call_state *st)
{
	r->local = SFN_LOCAL_NONE;
	if (resp->failure != HTTP_OK)
		return classify_transport(c, resp, r, st);
	if (resp->resent)
		r->maybe_delivered = true;

	r->http_status = resp->status;
	if (resp->status >= 200 && resp->status < 300) {
		r->outcome = SFN_OK;
		r->code[0] = '\0';
		r->message[0] = '\0';
		return STEP_DONE;
	}
	parse_error(&resp->body, r, c->secret);
	if (!r->code[0] && !r->message[0])
		snprintf(r->message, sizeof r->message, "HTTP %ld without an error code", resp->status);
	const char *code = r->code;
	if (code[0])
		snprintf(st->what, sizeof st->what, "HTTP %ld %s", resp->status, code);
	else
		snprintf(st->what, sizeof st->what, "HTTP %ld", resp->status);

	/* The transient statuses the AWS SDKs retry; a 501 or 505 will not
	 * change with time. */
	bool transient_status = resp->status == 500 || resp->status == 502 || resp->status == 503 ||
				resp->status == 504;
	if (resp->status == 429 || code_in(code, throttle_codes) || code_in(code, transient_codes) ||
	    transient_status) {
		/* A 500, 502 or 504 may come after Step Functions acted on the
		 * request (a 503 or a throttle says it did not). */
		if (transient_status && resp->status != 503 && !code_in(code, throttle_codes))
			r->maybe_delivered = true;
		r->outcome = SFN_GAVE_UP;
		return STEP_BACKOFF;
	}
	if (code_in(code, token_dead_codes)) {
		r->outcome = SFN_TOKEN_DEAD;
		return STEP_DONE;
	}
	if (code_in(code, expired_codes)) {
		r->outcome = SFN_AUTH_FAILED;
		if (st->expired_retried)
			return STEP_DONE;
		st->expired_retried = true;
		log_info("%s: the credentials have expired (%s), fetching new ones", st->op, code);
		creds_chain_invalidate(c->creds);
		return STEP_RETRY_NOW;
	}
	if (strncmp(code, "AccessDenied", 12) == 0 || message_has(r->message, "not authorized")) {
		r->outcome = SFN_ACCESS_DENIED;
		return STEP_DONE;
	}
	if (code_in(code, auth_codes) || (resp->status == 403 && !code[0])) {
		r->outcome = SFN_AUTH_FAILED;
		int64_t server_ms;
		if (st->skew_retried || !resp->date[0] || http_date_ms(resp->date, &server_ms) != 0)
			return STEP_DONE;
		int64_t ours = c->sys->wall_ms() + c->skew_ms;
		int64_t off = server_ms - ours;
		bool far = off > SKEW_THRESHOLD_MS || off < -SKEW_THRESHOLD_MS;
		if (!far && !code_in(code, skew_codes) && !is_skew_message(r->message))
			return STEP_DONE;
		st->skew_retried = true;
		c->skew_ms += off;
		log_warn("%s: the signature was refused for clock skew: this clock is %.0f s %s the server's "
			 "(Date: %s); retrying at the server's time",
			 st->op, (off < 0 ? -off : off) / 1000.0, off < 0 ? "ahead of" : "behind", resp->date);
		return STEP_RETRY_NOW;
	}
	r->outcome = SFN_REFUSED;
	return STEP_DONE;
}

static int64_t backoff_ms(struct sfn_client *c, int n)
{
	int64_t ceiling = BACKOFF_CAP_MS;
	if (n < 10 && ((int64_t)BACKOFF_BASE_MS << n) < BACKOFF_CAP_MS)
		ceiling = (int64_t)BACKOFF_BASE_MS << n;
	return (int64_t)(c->sys->random() % (uint32_t)(ceiling + 1));
}

static void reply_reset(struct sfn_reply *r)
{
	struct buf body = r->body;
	buf_reset(&body);
	memset(r, 0, sizeof *r);
	r->body = body;
}

/* The caller's deadline, or the one cfg->deadline_now says is in force
 * now when that is closer. */
static int64_t closer_deadline(const struct sfn_client *c, int64_t deadline_ms)
{
	int64_t d = c->deadline_now ? c->deadline_now(c->deadline_ctx) : -1;
	return d >= 0 && d < deadline_ms ? d : deadline_ms;
}

static bool deadline_passed(void *ctx)
{
	const struct sfn_client *c = ctx;
	int64_t d = c->deadline_now(c->deadline_ctx);
	return d >= 0 && c->sys->mono_ms() >= d;
}

/* One signed exchange.  Returns the transport's status (0, or -1 on misuse). */
static int attempt(struct sfn_client *c, const char *target, const char *body, size_t body_len, const struct creds *cr,
		   long timeout_ms, size_t max_body, struct http_response *resp)
{
	static const char content_type[] = "application/x-amz-json-1.0";
	struct sigv4_input in = {
		.method = "POST",
		.host = c->host,
		.path = c->path,
		.query = "",
		.region = c->region,
		.service = "states",
		.amz_target = target,
		.content_type = content_type,
		.payload = span_of(body, body_len),
		.wall_ms = c->sys->wall_ms() + c->skew_ms,
	};
	char amz_date[17];
	struct buf auth = BUF_INIT;
	sigv4_sign(&in, cr, amz_date, &auth);
	/* A server may quote the request's headers in its error message: the
	 * logs must not carry them, whatever provider gave the credentials. */
	log_secret(LOG_SECRET_KEY, cr->secret_key, "[secret key]");
	log_secret(LOG_SECRET_SESSION, cr->session_token, "[session token]");
	const char *sig = strstr(buf_cstr(&auth), "Signature=");
	log_secret(LOG_SECRET_SIGNATURE, sig ? sig + strlen("Signature=") : NULL, "[signature]");

	struct http_header headers[6] = {
		{ "Host", c->host },
		{ "Content-Type", content_type },
		{ "X-Amz-Date", amz_date },
		{ "X-Amz-Target", target },
		{ "Authorization", buf_cstr(&auth) },
	};
	size_t n = 5;
	if (cr->session_token && *cr->session_token)
		headers[n++] = (struct http_header){ "X-Amz-Security-Token", cr->session_token };

	struct http_request req = {
		.method = "POST",
		.url = c->url,
		.headers = headers,
		.n_headers = n,
		.body = body,
		.body_len = body_len,
		.timeout_ms = timeout_ms,
		.connect_timeout_ms = timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms : CONNECT_TIMEOUT_MS,
		.max_body = max_body,
		.abandon = c->deadline_now ? deadline_passed : NULL,
		.abandon_ctx = c,
	};
	int rc = http_perform(&c->http, &req, resp);
	buf_free(&auth);
	return rc;
}

int sfn_call(struct sfn_client *c, const char *operation, const char *json_body, int64_t deadline_ms,
	     struct sfn_reply *reply)
{
	reply_reset(reply);
	if (!json_body)
		json_body = "{}";
	size_t body_len = strlen(json_body);
	struct call_state st = { .op = operation };
	struct buf target = BUF_INIT;
	buf_printf(&target, "AWSStepFunctions.%s", operation);
	struct http_response resp = { 0 };
	const struct sys *sys = c->sys;
	/* SendTask* answers are "{}" or a short error; only the controller's
	 * calls (history pages) can be large. */
	size_t max_body = strncmp(operation, "SendTask", 8) == 0 ? HTTP_BODY_SENDTASK : HTTP_BODY_MAX;

	for (;;) {
		deadline_ms = closer_deadline(c, deadline_ms);
		int64_t remaining = deadline_ms - sys->mono_ms();
		if (remaining <= 0) {
			reply->outcome = SFN_GAVE_UP;
			if (reply->attempts == 0)
				reply->local = SFN_LOCAL_DEADLINE;
			if (!reply->message[0])
				snprintf(reply->message, sizeof reply->message,
					 "the deadline passed before %s could be sent", operation);
			break;
		}
		const struct creds *cr = NULL;
		struct err err = { "" };
		if (creds_chain_get_until(c->creds, deadline_ms, &cr, &err) != 0) {
			reply->outcome = SFN_NO_CREDENTIALS;
			reply->local = SFN_LOCAL_CREDENTIALS;
			copy_clean(reply->message, sizeof reply->message, err.msg, strlen(err.msg));
			break;
		}
		/* Fetching the credentials took some of the time. */
		remaining = deadline_ms - sys->mono_ms();
		if (remaining <= 0) {
			reply->outcome = SFN_GAVE_UP;
			if (reply->attempts == 0)
				reply->local = SFN_LOCAL_DEADLINE;
			snprintf(reply->message, sizeof reply->message,
				 "the deadline passed while the credentials were fetched, before %s could be sent",
				 operation);
			break;
		}
		long timeout = remaining < c->attempt_timeout_ms ? (long)remaining : c->attempt_timeout_ms;
		if (attempt(c, buf_cstr(&target), json_body, body_len, cr, timeout, max_body, &resp) != 0) {
			reply->outcome = SFN_REFUSED;
			reply->local = SFN_LOCAL_INTERNAL;
			snprintf(reply->message, sizeof reply->message, "internal error: bad HTTP request");
			break;
		}
		reply->attempts++;
		enum next_step next = classify(c, &resp, reply, &st);
		if (next == STEP_DONE)
			break;
		if (next == STEP_RETRY_NOW)
			continue;

		int64_t sleep = backoff_ms(c, st.backoffs++);
		deadline_ms = closer_deadline(c, deadline_ms);
		remaining = deadline_ms - sys->mono_ms();
		if (remaining - sleep < MIN_ATTEMPT_MS)
			sleep = remaining - MIN_ATTEMPT_MS;
		if (sleep < 0) {
			/* The caller says how the call ended. */
			log_debug("%s: %s (attempt %d), giving up: the deadline is reached", operation, st.what,
				  reply->attempts);
			break; /* reply->outcome is SFN_GAVE_UP */
		}
		int64_t now = sys->mono_ms();
		enum log_level level = LOG_DEBUG;
		if (!st.told_ms || now - st.told_ms >= RETRY_NOTE_MS)
			level = LOG_INFO;
		if (st.told_ms && level == LOG_INFO)
			log_info("%s: still retrying: %d attempts, last %s", operation, reply->attempts, st.what);
		else if (sleep < 50)
			log_msg(level, "%s: %s (attempt %d), retrying at once", operation, st.what, reply->attempts);
		else
			log_msg(level, "%s: %s (attempt %d), retrying in %.1f s", operation, st.what, reply->attempts,
				sleep / 1000.0);
		if (level == LOG_INFO)
			st.told_ms = now ? now : 1;
		if (sleep > 0)
			sys->sleep_ms(sleep);
	}

	if (reply->outcome == SFN_OK) {
		struct buf tmp = reply->body;
		reply->body = resp.body;
		resp.body = tmp;
	}
	http_response_free(&resp);
	buf_free(&target);
	return reply->outcome == SFN_OK ? 0 : -1;
}

/* ---- the task calls ---- */

/* Step Functions does not echo tokens in its messages today; if a server
 * ever does, the log line must still not carry it.  parse_error() redacted
 * the answer before cutting it; this covers what the reply says otherwise
 * (a transport error that quotes the request). */
static void scrub_token(struct sfn_reply *r, const char *token)
{
	char fp[16];
	struct buf b = BUF_INIT;
	token_fingerprint(token, fp);
	buf_puts(&b, r->message);
	log_redact(&b, token, fp);
	log_redact_known(&b);
	snprintf(r->message, sizeof r->message, "%s", buf_cstr(&b));
	buf_free(&b);
}

static void put_field(struct buf *b, const char *name, const char *value)
{
	if (b->len > 1)
		buf_putc(b, ',');
	json_append_string(b, span_str(name));
	buf_putc(b, ':');
	json_append_string(b, span_str(value));
}

/* Bodies are built with json_append_string rather than a JSON tree: the
 * output can be 256 KB, and invalid UTF-8 in a cause becomes U+FFFD instead
 * of a request Step Functions would refuse. */
static int send_task(struct sfn_client *c, const char *op, const char *token, const char *k1, const char *v1,
		     const char *k2, const char *v2, int64_t deadline_ms, struct sfn_reply *reply)
{
	struct buf body = BUF_INIT;
	buf_putc(&body, '{');
	put_field(&body, "taskToken", token);
	if (k1 && v1)
		put_field(&body, k1, v1);
	if (k2 && v2)
		put_field(&body, k2, v2);
	buf_putc(&body, '}');
	c->secret = token;
	int rc = sfn_call(c, op, buf_cstr(&body), deadline_ms, reply);
	c->secret = NULL;
	scrub_token(reply, token);
	buf_free(&body);
	return rc;
}

int sfn_send_success(struct sfn_client *c, const char *token, const char *output, int64_t deadline_ms,
		     struct sfn_reply *reply)
{
	return send_task(c, "SendTaskSuccess", token, "output", output ? output : "{}", NULL, NULL, deadline_ms,
			 reply);
}

int sfn_send_failure(struct sfn_client *c, const char *token, const char *error, const char *cause,
		     int64_t deadline_ms, struct sfn_reply *reply)
{
	return send_task(c, "SendTaskFailure", token, "error", error && *error ? error : NULL, "cause", cause,
			 deadline_ms, reply);
}

int sfn_send_heartbeat(struct sfn_client *c, const char *token, int64_t deadline_ms, struct sfn_reply *reply)
{
	return send_task(c, "SendTaskHeartbeat", token, NULL, NULL, NULL, NULL, deadline_ms, reply);
}

/* ---- explanations ---- */

const char *sfn_explain(const struct sfn_reply *r, const char *operation, char *out, size_t size)
{
	const char *code = r->code;
	const char *op = operation ? operation : "the call";
	switch (r->outcome) {
	case SFN_OK:
		snprintf(out, size, "%s was accepted", op);
		break;
	case SFN_TOKEN_DEAD:
		if (strcmp(code, "TaskTimedOut") == 0)
			snprintf(out, size,
				 "Step Functions no longer waits for this task: the state's TimeoutSeconds or "
				 "HeartbeatSeconds elapsed, or the execution ended (stopped, failed or timed out)%s",
				 r->maybe_delivered ? "; an earlier attempt that may have arrived probably "
						      "delivered the report" : "");
		else if (strcmp(code, "TaskDoesNotExist") == 0)
			snprintf(out, size,
				 "Step Functions knows no such task: the execution has ended, or the token "
				 "belongs to another account or region (check AWS_REGION)%s",
				 r->maybe_delivered ? "; an earlier attempt that may have arrived probably "
						      "delivered the report" : "");
		else
			snprintf(out, size,
				 "the task token is not valid here: it comes from another execution, account or "
				 "region, was cut or altered on the way, or a result was already reported with it%s",
				 r->maybe_delivered ? " (an earlier attempt that may have arrived probably "
						      "delivered the report)" : "");
		break;
	case SFN_ACCESS_DENIED:
		if (strncmp(op, "SendTask", 8) == 0)
			snprintf(out, size,
				 "access denied: the task role needs states:SendTaskSuccess, states:SendTaskFailure "
				 "and states:SendTaskHeartbeat");
		else
			snprintf(out, size, "access denied: the credentials in use need states:%s on this resource",
				 op);
		break;
	case SFN_AUTH_FAILED:
		snprintf(out, size,
			 "AWS refused the credentials (%s): check the access key and secret key, that the session "
			 "token belongs to them and has not expired, and that the clock of this host is right",
			 code[0] ? code : "HTTP 403");
		break;
	case SFN_REFUSED:
		if (r->local == SFN_LOCAL_TLS)
			snprintf(out, size,
				 "the TLS connection failed (%s): check AWS_CA_BUNDLE or SSL_CERT_FILE, and the "
				 "HTTPS proxy if one is set",
				 r->message);
		else if (r->local == SFN_LOCAL_ENDPOINT)
			snprintf(out, size, "the endpoint URL cannot be used (%s): fix AWS_ENDPOINT_URL_SFN",
				 r->message);
		else if (strcmp(code, "InvalidOutput") == 0)
			snprintf(out, size,
				 "Step Functions refused the output: it must be valid JSON of at most 262,144 bytes");
		else if (strstr(code, "DoesNotExist") || strcmp(code, "InvalidArn") == 0)
			snprintf(out, size,
				 "Step Functions refused %s (%s): check the ARN, and that the region and account "
				 "are the ones it names",
				 op, code);
		else if (!code[0] && r->http_status)
			/* Step Functions always names its errors: whatever
			 * answered is something else (a proxy, another service). */
			snprintf(out, size,
				 "the endpoint answered HTTP %ld without an AWS error code, so it is probably not Step "
				 "Functions: check AWS_ENDPOINT_URL_SFN (or AWS_ENDPOINT_URL) and the proxy settings",
				 r->http_status);
		else
			snprintf(out, size, "Step Functions refused %s (%s%s%s)", op, code[0] ? code : "HTTP error",
				 r->message[0] ? ": " : "", r->message);
		break;
	case SFN_GAVE_UP:
		snprintf(out, size,
			 "Step Functions did not accept %s before the deadline after %d attempt%s (last: %s): check "
			 "the network path to the endpoint, HTTPS_PROXY/NO_PROXY, and AWS_ENDPOINT_URL_SFN",
			 op, r->attempts, r->attempts == 1 ? "" : "s",
			 r->message[0] ? r->message : (r->code[0] ? r->code : "no answer"));
		break;
	case SFN_NO_CREDENTIALS:
		/* The chain's own "no AWS credentials found: ..." needs no prefix. */
		snprintf(out, size, "%s%s", strncmp(r->message, "no AWS credentials", 18) == 0 ? "" : "no AWS credentials: ",
			 r->message[0] ? r->message : "none were found");
		break;
	}
	return out;
}

/* ---- tokens ---- */

void token_fingerprint(const char *token, char out[16])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (!EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL))
		die_oom();
	snprintf(out, 16, "tok:%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
}

int token_validate(const char *token, struct err *err)
{
	if (!token || !*token)
		return err_set(err, "the task token is empty: pass the token Step Functions gave the task "
				    "(\"Value.$\": \"$$.Task.Token\" in the container overrides)");
	size_t n = strlen(token);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)token[i];
		if (ch < 0x20 || ch > 0x7e)
			return err_set(err,
				       "the task token has a byte 0x%02x at position %zu, but tokens are printable "
				       "ASCII: check that the variable holds only the token (no newline or quotes)",
				       ch, i + 1);
	}
	if (n > TOKEN_MAX_CHARS)
		return err_set(err,
			       "the task token is %zu characters long, but tokens are at most 2,048: check that "
			       "the variable holds only the token",
			       n);
	return 0;
}
