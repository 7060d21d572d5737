/* The Step Functions client against a scripted fake HTTP server and a fake
 * clock: retries, backoff bounds, deadlines, the error model, clock skew and
 * credential refresh, without a network and in milliseconds.
 *
 * The region and the credential chain are stubbed here (the client only
 * needs their interfaces), so the test can count invalidations. */
#include "agent/creds/creds.h"
#include "agent/region.h"
#include "agent/sfn.h"
#include "base/log.h"
#include "check.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

/* ---- fake clock and randomness ---- */

static int64_t mono_now, wall_now;
static int64_t sleeps[64];
static int n_sleeps;
static uint32_t random_value; /* what random() returns */
static bool random_lcg;       /* or an LCG, when set */
static uint32_t lcg_state = 12345;

static int64_t fake_mono(void) { return mono_now; }
static int64_t fake_wall(void) { return wall_now; }
static uint32_t fake_random(void)
{
	if (!random_lcg)
		return random_value;
	lcg_state = lcg_state * 1103515245u + 12345u;
	return lcg_state;
}
static void fake_sleep(int64_t ms)
{
	if (n_sleeps < 64)
		sleeps[n_sleeps] = ms;
	n_sleeps++;
	mono_now += ms;
	wall_now += ms;
}
static const char *fake_getenv(const char *name)
{
	(void)name;
	return NULL;
}
static const struct sys fake_sys = { fake_getenv, fake_mono, fake_wall, fake_random, fake_sleep };

/* ---- stubs for region and credentials ---- */

static int invalidations;
static bool creds_fail;
static struct creds the_creds = { "AKIDEXAMPLE", "secret", NULL, 0 };
static int chain_dummy;

char *region_resolve_until(const struct sys *sys, struct http *http, const char *fallback, int64_t deadline_ms,
			   struct err *err)
{
	(void)deadline_ms;
	(void)sys;
	(void)http;
	(void)fallback;
	(void)err;
	return xstrdup("eu-west-3");
}

struct creds_chain *creds_chain_new(const struct sys *sys, struct http *http)
{
	(void)sys;
	(void)http;
	return (struct creds_chain *)&chain_dummy;
}

int creds_chain_get_until(struct creds_chain *ch, int64_t deadline_ms, const struct creds **out, struct err *err)
{
	(void)ch;
	(void)deadline_ms;
	if (creds_fail)
		return err_set(err, "no credentials in the environment, profile or container endpoint");
	*out = &the_creds;
	return 0;
}

void creds_chain_invalidate(struct creds_chain *ch)
{
	(void)ch;
	invalidations++;
}

void creds_chain_free(struct creds_chain *ch)
{
	(void)ch;
}

/* ---- scripted HTTP ---- */

struct scripted {
	enum http_failure failure;
	long status;
	const char *body;
	const char *date;
	bool maybe_sent;
	int64_t takes_ms; /* how long the exchange lasts on the fake clock */
};

#define MAX_REQ 64
static const struct scripted *script;
static size_t script_len;
static bool script_repeat_last; /* answer the last entry forever */
static int n_req;
static struct {
	char target[128];
	char amz_date[32];
	char authorization[512];
	char host[128];
	char url[128];
	bool has_token_header;
	struct buf body;
	long timeout_ms, connect_timeout_ms;
	int64_t sent_at;
} reqs[MAX_REQ];

static int fake_perform(void *impl, const struct http_request *req, struct http_response *resp)
{
	(void)impl;
	int i = n_req++;
	if (i < MAX_REQ) {
		buf_reset(&reqs[i].body);
		buf_append(&reqs[i].body, req->body, req->body_len);
		reqs[i].timeout_ms = req->timeout_ms;
		reqs[i].connect_timeout_ms = req->connect_timeout_ms;
		reqs[i].sent_at = mono_now;
		reqs[i].has_token_header = false;
		snprintf(reqs[i].url, sizeof reqs[i].url, "%s", req->url);
		for (size_t h = 0; h < req->n_headers; h++) {
			const char *n = req->headers[h].name, *v = req->headers[h].value;
			if (strcasecmp(n, "X-Amz-Target") == 0)
				snprintf(reqs[i].target, sizeof reqs[i].target, "%s", v);
			else if (strcasecmp(n, "X-Amz-Date") == 0)
				snprintf(reqs[i].amz_date, sizeof reqs[i].amz_date, "%s", v);
			else if (strcasecmp(n, "Authorization") == 0)
				snprintf(reqs[i].authorization, sizeof reqs[i].authorization, "%s", v);
			else if (strcasecmp(n, "Host") == 0)
				snprintf(reqs[i].host, sizeof reqs[i].host, "%s", v);
			else if (strcasecmp(n, "X-Amz-Security-Token") == 0)
				reqs[i].has_token_header = true;
		}
	}
	size_t k = (size_t)i;
	if (k >= script_len) {
		if (!script_repeat_last || script_len == 0) {
			fprintf(stderr, "  unexpected request #%d\n", i + 1);
			resp->failure = HTTP_CONNECT;
			snprintf(resp->error, sizeof resp->error, "script exhausted");
			return 0;
		}
		k = script_len - 1;
	}
	const struct scripted *s = &script[k];
	int64_t takes = s->takes_ms;
	/* A real exchange ends by its timeout at the latest. */
	if ((s->failure == HTTP_TIMEOUT && takes == 0) || takes > req->timeout_ms)
		takes = req->timeout_ms;
	mono_now += takes;
	wall_now += takes;
	resp->failure = s->failure;
	resp->status = s->status;
	resp->maybe_sent = s->maybe_sent;
	if (s->body)
		buf_puts(&resp->body, s->body);
	snprintf(resp->date, sizeof resp->date, "%s", s->date ? s->date : "");
	if (s->failure != HTTP_OK)
		snprintf(resp->error, sizeof resp->error, "scripted transport failure %d", (int)s->failure);
	return 0;
}

static void fake_free(void *impl)
{
	(void)impl;
}

static const struct http_ops fake_ops = { fake_perform, fake_free };

/* 2026-11-21T12:00:00Z */
#define T0_WALL 1795262400000LL

static struct sfn_client *setup(const struct scripted *s, size_t n)
{
	script = s;
	script_len = n;
	script_repeat_last = false;
	n_req = 0;
	n_sleeps = 0;
	invalidations = 0;
	creds_fail = false;
	random_value = 0;
	random_lcg = false;
	the_creds.session_token = NULL;
	mono_now = 1000000;
	wall_now = T0_WALL;
	struct sfn_client_config cfg = { .sys = &fake_sys };
	struct http h = { &fake_ops, NULL };
	struct err err = { "" };
	struct sfn_client *c = sfn_client_new_with_http(&cfg, h, &err);
	if (!c)
		fprintf(stderr, "  setup: %s\n", err.msg);
	return c;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define TOKEN "AAAAKgAAAAIAAAAAAAAAAeXAMPLEtoken+/=="

static const char throttled[] =
	"{\"__type\":\"com.amazonaws.swf.base.model#ThrottlingException\",\"message\":\"Rate exceeded\"}";

static void test_throttled_then_ok(void)
{
	static const struct scripted s[] = {
		{ HTTP_OK, 400, throttled, NULL, true, 30 },
		{ HTTP_OK, 200, "{}", NULL, true, 30 },
	};
	struct sfn_client *c = setup(s, N(s));
	random_value = 0xffffffffu; /* the top of the jitter range */
	struct sfn_reply r = { 0 };
	int rc = sfn_send_heartbeat(c, TOKEN, mono_now + 60000, &r);
	CHECK(rc == 0);
	CHECK(r.outcome == SFN_OK);
	CHECK(r.attempts == 2);
	CHECK(n_req == 2);
	CHECK(n_sleeps == 1);
	CHECK(sleeps[0] >= 0 && sleeps[0] <= 200);
	CHECK(sleeps[0] == (int64_t)(0xffffffffu % 201));
	CHECK_STR(buf_cstr(&r.body), "{}");
	CHECK(!r.maybe_delivered);
	CHECK_STR(reqs[0].target, "AWSStepFunctions.SendTaskHeartbeat");
	CHECK_STR(reqs[0].host, "states.eu-west-3.amazonaws.com");
	CHECK_STR(reqs[0].url, "https://states.eu-west-3.amazonaws.com/");
	CHECK(strncmp(reqs[0].authorization, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/eu-west-3/states/", 66) == 0);
	CHECK(strstr(reqs[0].authorization, "SignedHeaders=content-type;host;x-amz-date;x-amz-target,") != NULL);
	CHECK(!reqs[0].has_token_header);
	CHECK_STR(buf_cstr(&reqs[0].body), "{\"taskToken\":\"" TOKEN "\"}");
	CHECK(reqs[0].connect_timeout_ms <= 3000);
	CHECK(reqs[0].timeout_ms == 10000);
	sfn_reply_free(&r);
	sfn_client_free(c);
}

/* The sleeps follow min(cap, base * 2^n) with full jitter: with random
 * fixed each sleep is random mod (ceiling + 1), which pins the ceilings;
 * with an LCG each lies within its ceiling. */
static void test_backoff_bounds(void)
{
	static const struct scripted s[] = { { HTTP_OK, 429, "", NULL, true, 10 } };
	struct sfn_client *c = setup(s, N(s));
	script_repeat_last = true;
	random_value = 0xffffffffu;
	struct sfn_reply r = { 0 };
	/* 10 retries fit: 0.2+0.4+0.8+1.6+3.2+5*5 = 31.2 s < 40 s. */
	int64_t deadline = mono_now + 40000;
	sfn_call(c, "SendTaskSuccess", "{}", deadline, &r);
	CHECK(r.outcome == SFN_GAVE_UP);
	CHECK(r.http_status == 429);
	CHECK(n_sleeps >= 8);
	static const int64_t want[] = { 200, 400, 800, 1600, 3200, 5000, 5000, 5000 };
	for (size_t i = 0; i < N(want); i++) {
		int64_t expected = (int64_t)(0xffffffffu % (uint32_t)(want[i] + 1));
		if (sleeps[i] != expected)
			fprintf(stderr, "  sleep %zu: %lld, want %lld\n", i, (long long)sleeps[i], (long long)expected);
		CHECK(sleeps[i] == expected);
	}
	sfn_client_free(c);

	c = setup(s, N(s));
	script_repeat_last = true;
	random_lcg = true;
	sfn_call(c, "SendTaskSuccess", "{}", mono_now + 120000, &r);
	CHECK(r.outcome == SFN_GAVE_UP);
	int distinct = 0;
	for (int i = 0; i < n_sleeps && i < 64; i++) {
		int64_t ceiling = i >= 5 ? 5000 : 200LL << i;
		CHECK(sleeps[i] >= 0 && sleeps[i] <= ceiling);
		if (i > 0 && sleeps[i] != sleeps[i - 1])
			distinct++;
	}
	CHECK(distinct > 3); /* jitter, not a fixed schedule */
	sfn_reply_free(&r);
	sfn_client_free(c);
}

static void test_5xx_until_deadline(void)
{
	static const struct scripted s[] = {
		{ HTTP_OK, 500, "{\"__type\":\"InternalFailure\",\"message\":\"boom\"}", NULL, true, 700 },
	};
	struct sfn_client *c = setup(s, N(s));
	script_repeat_last = true;
	random_lcg = true;
	struct sfn_reply r = { 0 };
	int64_t deadline = mono_now + 30000;
	int rc = sfn_send_success(c, TOKEN, "{\"a\":1}", deadline, &r);
	CHECK(rc == -1);
	CHECK(r.outcome == SFN_GAVE_UP);
	CHECK(r.http_status == 500);
	CHECK_STR(r.code, "InternalFailure");
	CHECK(r.attempts == n_req);
	CHECK(r.attempts > 5);
	CHECK(mono_now <= deadline);
	for (int i = 0; i < n_req && i < MAX_REQ; i++)
		CHECK(reqs[i].sent_at + reqs[i].timeout_ms <= deadline);
	char why[512];
	CHECK(strstr(sfn_explain(&r, "SendTaskSuccess", why, sizeof why), "deadline") != NULL);
	sfn_reply_free(&r);
	sfn_client_free(c);
}

/* Timeouts use up the time: the attempts shrink to fit the deadline. */
static void test_timeouts_never_pass_deadline(void)
{
	static const struct scripted s[] = { { HTTP_TIMEOUT, 0, NULL, NULL, true, 0 } };
	struct sfn_client *c = setup(s, N(s));
	script_repeat_last = true;
	random_lcg = true;
	struct sfn_reply r = { 0 };
	int64_t deadline = mono_now + 25000;
	sfn_send_heartbeat(c, TOKEN, deadline, &r);
	CHECK(r.outcome == SFN_GAVE_UP);
	CHECK(r.maybe_delivered);
	CHECK(mono_now <= deadline);
	CHECK(n_req >= 2);
	for (int i = 0; i < n_req && i < MAX_REQ; i++)
		CHECK(reqs[i].timeout_ms > 0 && reqs[i].sent_at + reqs[i].timeout_ms <= deadline);
	sfn_reply_free(&r);
	sfn_client_free(c);
}

static void test_deadline_already_passed(void)
{
	struct sfn_client *c = setup(NULL, 0);
	struct sfn_reply r = { 0 };
	CHECK(sfn_send_heartbeat(c, TOKEN, mono_now - 1, &r) == -1);
	CHECK(r.outcome == SFN_GAVE_UP);
	CHECK(n_req == 0);
	sfn_reply_free(&r);
	sfn_client_free(c);
}

static void test_invalid_token_not_retried(void)
{
	static const struct scripted s[] = {
		{ HTTP_OK, 400, "{\"__type\":\"com.amazonaws.swf.base.model#InvalidToken\",\"message\":\"Invalid Token\"}",
		  NULL, true, 10 },
	};
	struct sfn_client *c = setup(s, N(s));
	struct sfn_reply r = { 0 };
	CHECK(sfn_send_success(c, TOKEN, "{}", mono_now + 60000, &r) == -1);
	CHECK(r.outcome == SFN_TOKEN_DEAD);
	CHECK_STR(r.code, "InvalidToken");
	CHECK_STR(r.message, "Invalid Token");
	CHECK(r.attempts == 1 && n_req == 1 && n_sleeps == 0);
	CHECK(!r.maybe_delivered);
	char why[512];
	CHECK(strstr(sfn_explain(&r, "SendTaskSuccess", why, sizeof why), "already") != NULL);
	sfn_reply_free(&r);
	sfn_client_free(c);
}

static void test_task_timed_out_after_maybe_sent(void)
{
	static const struct scripted s[] = {
		{ HTTP_TIMEOUT, 0, NULL, NULL, true, 0 },
		{ HTTP_OK, 400, "{\"__type\":\"TaskTimedOut\",\"message\":\"Task Timed Out\"}", NULL, true, 10 },
	};
	struct sfn_client *c = setup(s, N(s));
	struct sfn_reply r = { 0 };
	CHECK(sfn_send_success(c, TOKEN, "{}", mono_now + 60000, &r) == -1);
	CHECK(r.outcome == SFN_TOKEN_DEAD);
	CHECK_STR(r.code, "TaskTimedOut");
	CHECK(r.attempts == 2);
	CHECK(r.maybe_delivered);
	char why[512];
	CHECK(strstr(sfn_explain(&r, "SendTaskSuccess", why, sizeof why), "probably delivered") != NULL);
	sfn_reply_free(&r);
	sfn_client_free(c);
}

/* A refused connection never reached the server. */
static void test_connect_failure_not_maybe(void)
{
	static const struct scripted s[] = {
		{ HTTP_CONNECT, 0, NULL, NULL, false, 5 },
		{ HTTP_OK, 503, "", NULL, true, 5 },
		{ HTTP_OK, 400, "{\"__type\":\"TaskDoesNotExist\",\"message\":\"gone\"}", NULL, true, 5 },
	};
	struct sfn_client *c = setup(s, N(s));
	struct sfn_reply r = { 0 };
	sfn_send_heartbeat(c, TOKEN, mono_now + 60000, &r);
	CHECK(r.outcome == SFN_TOKEN_DEAD);
	CHECK(r.attempts == 3);
	CHECK(!r.maybe_delivered);
	sfn_reply_free(&r);
	sfn_client_free(c);
}

static void test_xml_403_auth_failed(void)
{
	static const struct scripted s[] = {
		{ HTTP_OK, 403,
		  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch"
		  "</Code><Message>The request signature we calculated does not match &amp; so on</Message></Error>"
		  "</Errors></ErrorResponse>",
		  "Sat, 21 Nov 2026 12:00:01 GMT", true, 5 },
	};
	struct sfn_client *c = setup(s, N(s));
	struct sfn_reply r = { 0 };
	CHECK(sfn_send_heartbeat(c, TOKEN, mono_now + 60000, &r) == -1);
	CHECK(r.outcome == SFN_AUTH_FAILED);
	CHECK_STR(r.code, "SignatureDoesNotMatch");
	CHECK_STR(r.message, "The request signature we calculated does not match & so on");
	CHECK(r.attempts == 1);
	CHECK(r.http_status == 403);
	char why[512];
	CHECK(strstr(sfn_explain(&r, "SendTaskHeartbeat", why, sizeof why), "clock") != NULL);
	sfn_reply_free(&r);
	sfn_client_free(c);
}

static void test_access_denied(void)
{
	static const struct scripted s[] = {
		{ HTTP_OK, 400,
		  "{\"__type\":\"AccessDeniedException\",\"Message\":\"User: arn:aws:sts::1:assumed-role/r is not "
		  "authorized to perform: states:SendTaskSuccess\"}",
		  NULL, true, 5 },
		{ HTTP_OK, 403,
		  "<ErrorResponse><Error><Code>AccessDenied</Code><Message>User x is not authorized</Message></Error>"
		  "</ErrorResponse>",
		  NULL, true, 5 },
	};
	struct sfn_client *c = setup(s, N(s));
	struct sfn_reply r = { 0 };
	sfn_send_success(c, TOKEN, "{}", mono_now + 60000, &r);
	CHECK(r.outcome == SFN_ACCESS_DENIED);
	CHECK(r.attempts == 1);
	CHECK(strstr(r.message, "not authorized") != NULL);
	char why[512];
	CHECK_STR(sfn_explain(&r, "SendTaskSuccess", why, sizeof why),
		  "access denied: the task role needs states:SendTaskSuccess, states:SendTaskFailure and "
		  "states:SendTaskHeartbeat");
	sfn_send_heartbeat(c, TOKEN, mono_now + 60000, &r);
	CHECK(r.outcome == SFN_ACCESS_DENIED);
	CHECK_STR(r.code, "AccessDenied");
	sfn_reply_free(&r);
	sfn_client_free(c);
}

static void test_clock_skew_retried_once(void)
{
	/* The server is 20 minutes ahead of this host. */
	static const struct scripted s[] = {
		{ HTTP_OK, 400,
		  "{\"__type\":\"InvalidSignatureException\",\"message\":\"Signature not yet current: 20261121T120000Z "
		  "is still later than 20261121T122500Z\"}",
		  "Sat, 21 Nov 2026 12:20:00 GMT", true, 0 },
		{ HTTP_OK, 200, "{}", "Sat, 21 Nov 2026 12:20:00 GMT", true, 0 },
		{ HTTP_OK, 200, "{}", NULL, true, 0 },
	};
	struct sfn_client *c = setup(s, N(s));
	struct sfn_reply r = { 0 };
	CHECK(sfn_send_heartbeat(c, TOKEN, mono_now + 60000, &r) == 0);
	CHECK(r.attempts == 2);
	CHECK(n_sleeps == 0);
	CHECK_STR(reqs[0].amz_date, "20261121T120000Z");
	CHECK_STR(reqs[1].amz_date, "20261121T122000Z");
	/* The offset is kept for later calls. */
	wall_now += 5000;
	CHECK(sfn_send_heartbeat(c, TOKEN, mono_now + 60000, &r) == 0);
	CHECK_STR(reqs[2].amz_date, "20261121T122005Z");
	sfn_reply_free(&r);
	sfn_client_free(c);

	/* Only once: a second skew refusal is final. */
	static const struct scripted twice[] = {
		{ HTTP_OK, 403, "<Error><Code>RequestTimeTooSkewed</Code><Message>skewed</Message></Error>",
		  "Sat, 21 Nov 2026 11:00:00 GMT", true, 0 },
		{ HTTP_OK, 403, "<Error><Code>RequestTimeTooSkewed</Code><Message>skewed</Message></Error>",
		  "Sat, 21 Nov 2026 10:00:00 GMT", true, 0 },
	};
	c = setup(twice, N(twice));
	CHECK(sfn_send_heartbeat(c, TOKEN, mono_now + 60000, &r) == -1);
	CHECK(r.outcome == SFN_AUTH_FAILED);
	CHECK(r.attempts == 2);
	CHECK_STR(reqs[1].amz_date, "20261121T110000Z");
	sfn_reply_free(&r);
	sfn_client_free(c);

	/* A signature refused with a server clock that agrees is not skew. */
	static const struct scripted plain[] = {
		{ HTTP_OK, 400, "{\"__type\":\"InvalidSignatureException\",\"message\":\"The request signature we "
				"calculated does not match\"}",
		  "Sat, 21 Nov 2026 12:00:30 GMT", true, 0 },
	};
	c = setup(plain, N(plain));
	CHECK(sfn_send_heartbeat(c, TOKEN, mono_now + 60000, &r) == -1);
	CHECK(r.outcome == SFN_AUTH_FAILED);
	CHECK(r.attempts == 1);
	sfn_reply_free(&r);
	sfn_client_free(c);
}

static void test_expired_token_refreshed(void)
{
	static const struct scripted s[] = {
		{ HTTP_OK, 400, "{\"__type\":\"ExpiredTokenException\",\"message\":\"The security token included in "
				"the request is expired\"}",
		  NULL, true, 5 },
		{ HTTP_OK, 200, "{}", NULL, true, 5 },
	};
	struct sfn_client *c = setup(s, N(s));
	the_creds.session_token = "FwoGZXIvYXdzEXAMPLEsessiontoken";
	struct sfn_reply r = { 0 };
	CHECK(sfn_send_heartbeat(c, TOKEN, mono_now + 60000, &r) == 0);
	CHECK(invalidations == 1);
	CHECK(r.attempts == 2);
	CHECK(reqs[0].has_token_header);
	CHECK(strstr(reqs[0].authorization, ";x-amz-security-token;") != NULL);
	sfn_reply_free(&r);
	sfn_client_free(c);

	static const struct scripted again[] = {
		{ HTTP_OK, 403, "<Error><Code>ExpiredToken</Code><Message>expired</Message></Error>", NULL, true, 5 },
		{ HTTP_OK, 403, "<Error><Code>ExpiredToken</Code><Message>expired</Message></Error>", NULL, true, 5 },
	};
	c = setup(again, N(again));
	CHECK(sfn_send_heartbeat(c, TOKEN, mono_now + 60000, &r) == -1);
	CHECK(r.outcome == SFN_AUTH_FAILED);
	CHECK(invalidations == 1);
	CHECK(r.attempts == 2);
	sfn_reply_free(&r);
	sfn_client_free(c);
}

static void test_other_refusals_final(void)
{
	static const struct scripted s[] = {
		{ HTTP_OK, 400, "{\"__type\":\"InvalidOutput\",\"message\":\"Invalid Output\"}", NULL, true, 5 },
		{ HTTP_TLS, 0, NULL, NULL, false, 5 },
	};
	struct sfn_client *c = setup(s, N(s));
	struct sfn_reply r = { 0 };
	sfn_send_success(c, TOKEN, "x", mono_now + 60000, &r);
	CHECK(r.outcome == SFN_REFUSED);
	CHECK_STR(r.code, "InvalidOutput");
	CHECK(r.attempts == 1);
	char why[512];
	CHECK(strstr(sfn_explain(&r, "SendTaskSuccess", why, sizeof why), "262,144") != NULL);
	sfn_send_success(c, TOKEN, "{}", mono_now + 60000, &r);
	CHECK(r.outcome == SFN_REFUSED);
	CHECK(r.attempts == 1);
	/* A local failure: no made-up AWS code, a kind to switch on. */
	CHECK(r.local == SFN_LOCAL_TLS);
	CHECK_STR(r.code, "");
	CHECK(strstr(sfn_explain(&r, "SendTaskSuccess", why, sizeof why), "AWS_CA_BUNDLE") != NULL);
	sfn_reply_free(&r);
	sfn_client_free(c);
}

static void test_no_credentials(void)
{
	struct sfn_client *c = setup(NULL, 0);
	creds_fail = true;
	struct sfn_reply r = { 0 };
	CHECK(sfn_send_heartbeat(c, TOKEN, mono_now + 60000, &r) == -1);
	CHECK(r.outcome == SFN_NO_CREDENTIALS);
	CHECK(r.local == SFN_LOCAL_CREDENTIALS);
	CHECK(n_req == 0);
	CHECK(strstr(r.message, "no credentials") != NULL);
	sfn_reply_free(&r);
	sfn_client_free(c);
}

static void test_failure_body(void)
{
	static const struct scripted s[] = { { HTTP_OK, 200, "{}", NULL, true, 5 } };
	struct sfn_client *c = setup(s, N(s));
	struct sfn_reply r = { 0 };
	CHECK(sfn_send_failure(c, TOKEN, "ScriptFailed", "{\"stderrTail\":\"a\\\"b \xff end\"}", mono_now + 60000,
			       &r) == 0);
	cJSON *j = cJSON_Parse(buf_cstr(&reqs[0].body));
	CHECK(j != NULL);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "taskToken")), TOKEN);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "error")), "ScriptFailed");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "cause")),
		  "{\"stderrTail\":\"a\\\"b \xef\xbf\xbd end\"}");
	CHECK_STR(reqs[0].target, "AWSStepFunctions.SendTaskFailure");
	cJSON_Delete(j);
	sfn_reply_free(&r);
	sfn_client_free(c);
}

/* A 625-character token (AWS's are about that long) echoed in an error
 * message longer than what the reply keeps: no piece of 16 characters or
 * more may remain, whether the message quotes the token whole, cut, or in
 * pieces, in JSON or in XML. */
static char long_token[626];
static char echo_body[4096];

static bool has_token_piece(const char *text)
{
	size_t n = strlen(text), t = strlen(long_token);
	for (size_t i = 0; i + 16 <= n; i++)
		if (memmem(long_token, t, text + i, 16))
			return true;
	return false;
}

static void test_echoed_long_token_redacted(void)
{
	for (int i = 0; i < 625; i++)
		long_token[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(i * 7 + i / 64) % 64];
	long_token[625] = '\0';
	for (size_t k = 0; k < 3; k++) {
		if (k == 0)
			snprintf(echo_body, sizeof echo_body,
				 "{\"__type\":\"ValidationException\",\"message\":\"1 validation error detected: "
				 "Value '%s' at 'taskToken' failed to satisfy constraint\"}",
				 long_token);
		else if (k == 1)
			snprintf(echo_body, sizeof echo_body,
				 "{\"__type\":\"ValidationException\",\"message\":\"pieces: %.300s / %s\"}",
				 long_token, long_token + 300);
		else
			snprintf(echo_body, sizeof echo_body,
				 "<ErrorResponse><Error><Code>ValidationError</Code><Message>token %s is bad"
				 "</Message></Error></ErrorResponse>",
				 long_token);
		const struct scripted s[] = { { HTTP_OK, 400, echo_body, NULL, true, 5 } };
		struct sfn_client *c = setup(s, N(s));
		struct sfn_reply r = { 0 };
		CHECK(sfn_send_heartbeat(c, long_token, mono_now + 60000, &r) == -1);
		CHECK(r.outcome == SFN_REFUSED);
		CHECK(r.message[0] != '\0');
		if (has_token_piece(r.message) || has_token_piece(r.code)) {
			fprintf(stderr, "  shape %zu: token in \"%s\"\n", k, r.message);
			CHECK(!"a piece of the token is in the reply");
		}
		char why[1024];
		CHECK(!has_token_piece(sfn_explain(&r, "SendTaskHeartbeat", why, sizeof why)));
		sfn_reply_free(&r);
		sfn_client_free(c);
	}
}

static void test_token_helpers(void)
{
	char fp[16];
	/* sha256("abc") = ba7816bf... */
	token_fingerprint("abc", fp);
	CHECK_STR(fp, "tok:ba7816bf");
	struct err err = { "" };
	CHECK(token_validate("abc+/=", &err) == 0);
	CHECK(token_validate("", &err) == -1);
	CHECK(token_validate("abc\n", &err) == -1);
	CHECK(strstr(err.msg, "printable") != NULL);
	char big[2050];
	memset(big, 'a', sizeof big - 1);
	big[2048] = '\0';
	CHECK(token_validate(big, &err) == 0);
	big[2048] = 'a';
	big[2049] = '\0';
	CHECK(token_validate(big, &err) == -1);
	CHECK(strstr(err.msg, "2,048") != NULL);
}

int main(int argc, char **argv)
{
	(void)argv;
	/* The retry log lines are for people; -v shows them. */
	log_setup(argc > 1 ? LOG_DEBUG : LOG_ERROR, LOG_TEXT);
	RUN(test_throttled_then_ok);
	RUN(test_backoff_bounds);
	RUN(test_5xx_until_deadline);
	RUN(test_timeouts_never_pass_deadline);
	RUN(test_deadline_already_passed);
	RUN(test_invalid_token_not_retried);
	RUN(test_task_timed_out_after_maybe_sent);
	RUN(test_connect_failure_not_maybe);
	RUN(test_xml_403_auth_failed);
	RUN(test_access_denied);
	RUN(test_clock_skew_retried_once);
	RUN(test_expired_token_refreshed);
	RUN(test_other_refusals_final);
	RUN(test_no_credentials);
	RUN(test_failure_body);
	RUN(test_token_helpers);
	RUN(test_echoed_long_token_redacted);
	for (int i = 0; i < MAX_REQ; i++)
		buf_free(&reqs[i].body);
	return CHECK_DONE();
}
