/* The credential chain, its providers and region resolution, against a
 * made-up environment, a fake clock and a fake HTTP client: nothing here
 * reads the real environment or touches the network. */
#include "check.h"

#include "agent/answer.h"
#include "agent/creds/creds.h"
#include "agent/creds/ini.h"
#include "agent/region.h"

#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- fake sys ---- */

static const char *env_tab[32][2];
static int64_t fake_now;
static int64_t slept;

static const char *fake_getenv(const char *name)
{
	for (int i = 0; i < 32 && env_tab[i][0]; i++)
		if (strcmp(env_tab[i][0], name) == 0)
			return env_tab[i][1];
	return NULL;
}

static int64_t fake_clock(void)
{
	return fake_now;
}

static uint32_t fake_random(void)
{
	return 4;
}

static void fake_sleep(int64_t ms)
{
	slept += ms;
	fake_now += ms;
}

static const struct sys fsys = {fake_getenv, fake_clock, fake_clock, fake_random, fake_sleep};

static char empty_home[64];

/* Every test starts from an environment with no credentials anywhere: an
 * empty HOME and IMDS switched off. */
static void env_reset(void)
{
	memset(env_tab, 0, sizeof env_tab);
	env_tab[0][0] = "HOME";
	env_tab[0][1] = empty_home;
	env_tab[1][0] = "AWS_EC2_METADATA_DISABLED";
	env_tab[1][1] = "true";
	fake_now = 1795000000000LL; /* 2026-11-18T11:06:40Z */
	slept = 0;
}

static void env_set(const char *name, const char *value)
{
	int i;
	for (i = 0; i < 31 && env_tab[i][0]; i++)
		if (strcmp(env_tab[i][0], name) == 0)
			break;
	env_tab[i][0] = name;
	env_tab[i][1] = value;
}

/* ---- fake http ---- */

struct seen {
	char method[8];
	char url[256];
	char headers[1024]; /* "Name: value\n" each */
	char body[4096];
};

struct fake {
	int n;
	struct seen req[32];
	int fail_first;	  /* answer HTTP_CONNECT this many times */
	long status;	  /* 0: 200 */
	int served;	  /* credentials handed out */
	int64_t cost_ms;  /* each request takes this long on the fake clock */
	const char *body; /* fixed answer, or NULL for the handler's own */
	void (*handler)(struct fake *f, const struct http_request *req, struct http_response *resp);
};

static int fake_perform(void *impl, const struct http_request *req, struct http_response *resp)
{
	struct fake *f = impl;
	struct seen *s = &f->req[f->n < 31 ? f->n : 31];
	f->n++;
	memset(s, 0, sizeof *s);
	snprintf(s->method, sizeof s->method, "%s", req->method);
	snprintf(s->url, sizeof s->url, "%s", req->url);
	for (size_t i = 0; i < req->n_headers; i++) {
		size_t l = strlen(s->headers);
		snprintf(s->headers + l, sizeof s->headers - l, "%s: %s\n", req->headers[i].name,
			 req->headers[i].value);
	}
	if (req->body)
		snprintf(s->body, sizeof s->body, "%.*s", (int)req->body_len, req->body);
	fake_now += f->cost_ms;
	if (f->fail_first > 0) {
		f->fail_first--;
		resp->failure = HTTP_CONNECT;
		snprintf(resp->error, sizeof resp->error, "Connection refused");
		return 0;
	}
	resp->status = f->status ? f->status : 200;
	if (f->body)
		buf_puts(&resp->body, f->body);
	else if (f->handler)
		f->handler(f, req, resp);
	return 0;
}

static const struct http_ops fake_ops = {fake_perform, NULL};

static struct http fake_http(struct fake *f)
{
	struct http h = {&fake_ops, f};
	return h;
}

static void iso(int64_t ms, char *out, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ECS-format credentials that expire 10 minutes from the fake now; each
 * answer has a new key id so a refetch shows. */
static void ecs_handler(struct fake *f, const struct http_request *req, struct http_response *resp)
{
	(void)req;
	char exp[40];
	iso(fake_now + 10 * 60 * 1000, exp, sizeof exp);
	f->served++;
	buf_printf(&resp->body,
		   "{\"RoleArn\":\"arn:aws:iam::123456789012:role/task\",\"AccessKeyId\":\"ASIA%d\","
		   "\"SecretAccessKey\":\"secret%d\",\"Token\":\"token%d\",\"Expiration\":\"%s\"}",
		   f->served, f->served, f->served, exp);
}

/* ---- helpers ---- */

static char *write_file(const char *name, const char *text)
{
	static char paths[16][128];
	static int next;
	char *p = paths[next++ % 16];
	snprintf(p, 128, "%s/%s", "/tmp/creds-unit", name);
	FILE *fp = fopen(p, "w");
	if (!fp) {
		perror(p);
		exit(2);
	}
	fputs(text, fp);
	fclose(fp);
	return p;
}

static enum creds_result fetch(const struct creds_provider *p, struct creds *c, struct err *e, struct http *h)
{
	const char *profile = sys_env(&fsys, "AWS_PROFILE");
	struct creds_ctx ctx = {&fsys, h, profile ? profile : "default"};
	memset(e, 0, sizeof *e);
	return p->fetch(&ctx, c, e);
}

/* ---- environment ---- */

static void test_env_complete(void)
{
	struct creds c = {0};
	struct err e;
	env_reset();
	env_set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
	env_set("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI");
	CHECK(fetch(&creds_env_provider, &c, &e, NULL) == CREDS_OK);
	CHECK_STR(c.access_key, "AKIDEXAMPLE");
	CHECK_STR(c.secret_key, "wJalrXUtnFEMI");
	CHECK(c.session_token == NULL);
	CHECK(c.expires_ms == 0);
	creds_clear(&c);
	env_set("AWS_SESSION_TOKEN", "FwoGZXIvYXdz");
	CHECK(fetch(&creds_env_provider, &c, &e, NULL) == CREDS_OK);
	CHECK_STR(c.session_token, "FwoGZXIvYXdz");
	creds_clear(&c);
	CHECK(c.access_key == NULL && c.secret_key == NULL && c.session_token == NULL);
}

static void test_env_partial(void)
{
	struct creds c = {0};
	struct err e;
	env_reset();
	env_set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
	CHECK(fetch(&creds_env_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "AWS_SECRET_ACCESS_KEY is not") != NULL);
	CHECK(c.access_key == NULL);
	env_reset();
	env_set("AWS_SECRET_ACCESS_KEY", "x");
	CHECK(fetch(&creds_env_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "AWS_ACCESS_KEY_ID is not") != NULL);
	/* "" counts as unset. */
	env_set("AWS_ACCESS_KEY_ID", "");
	CHECK(fetch(&creds_env_provider, &c, &e, NULL) == CREDS_FAILED);
	env_reset();
	CHECK(fetch(&creds_env_provider, &c, &e, NULL) == CREDS_NOT_HERE);
	env_set("AWS_SESSION_TOKEN", "stale");
	CHECK(fetch(&creds_env_provider, &c, &e, NULL) == CREDS_NOT_HERE);
}

/* ---- INI and profiles ---- */

static int lookup(const char *text, const char *section, const char *key, struct buf *out)
{
	return ini_lookup(span_str(text), section, key, out);
}

static void test_ini(void)
{
	struct buf v = BUF_INIT;
	const char *t = "\xef\xbb\xbf# comment\r\n"
			"; another\r\n"
			"[default]\r\n"
			"  aws_access_key_id =  AKID1  \r\n"
			"aws_secret_access_key=abc/def+ghi==\r\n"
			"region = eu-west-1 # inline\r\n"
			"url = https://x/?a=b#frag\r\n"
			"s3 =\r\n"
			"    region = nested\r\n"
			"\r\n"
			"[ profile   dev ]  ; trailing\n"
			"AWS_ACCESS_KEY_ID = AKID2\n"
			"aws_access_key_id = AKID3\n"
			"[broken\n"
			"aws_access_key_id = AKID4\n"
			"[other]\n"
			"key=last-no-newline";
	CHECK(lookup(t, "default", "aws_access_key_id", &v) == 1);
	CHECK_STR(buf_cstr(&v), "AKID1");
	CHECK(lookup(t, "default", "aws_secret_access_key", &v) == 1);
	CHECK_STR(buf_cstr(&v), "abc/def+ghi==");
	CHECK(lookup(t, "default", "region", &v) == 1);
	CHECK_STR(buf_cstr(&v), "eu-west-1");
	CHECK(lookup(t, "default", "url", &v) == 1);
	CHECK_STR(buf_cstr(&v), "https://x/?a=b#frag");
	CHECK(lookup(t, "default", "s3", &v) == 1);
	CHECK_STR(buf_cstr(&v), "");
	CHECK(lookup(t, "profile dev", "aws_access_key_id", &v) == 1);
	CHECK_STR(buf_cstr(&v), "AKID3");
	CHECK(lookup(t, "other", "key", &v) == 1);
	CHECK_STR(buf_cstr(&v), "last-no-newline");
	buf_reset(&v);
	buf_puts(&v, "untouched");
	CHECK(lookup(t, "dev", "aws_access_key_id", &v) == 0);
	CHECK(lookup(t, "default", "nope", &v) == 0);
	CHECK(lookup(t, "broken", "aws_access_key_id", &v) == 0);
	CHECK_STR(buf_cstr(&v), "untouched");
	CHECK(ini_has_section(span_str(t), "profile dev") == 1);
	CHECK(ini_has_section(span_str(t), "dev") == 0);
	CHECK(lookup("", "default", "k", &v) == 0);
	CHECK(lookup("[default]\nk", "default", "k", &v) == 0);
	CHECK(lookup("k = v\n[default]\n", "default", "k", &v) == 0);
	/* Bytes after a NUL are still part of the span. */
	CHECK(ini_lookup(span_of("[a]\0\n[b]\nk=1\n", 13), "b", "k", &v) == 1);
	CHECK_STR(buf_cstr(&v), "1");
	buf_free(&v);
}

static void test_profile_precedence(void)
{
	struct creds c = {0};
	struct err e;
	env_reset();
	char *cred = write_file("credentials", "[default]\naws_access_key_id = FROMCRED\n"
					       "aws_secret_access_key = s1\n");
	char *conf =
	    write_file("config", "[default]\naws_access_key_id = FROMCONF\naws_secret_access_key = s2\n"
				 "aws_session_token = t2\nregion = eu-central-1\n"
				 "[dev]\naws_access_key_id = WRONG\naws_secret_access_key = x\n"
				 "[profile dev]\naws_access_key_id = DEVCONF\naws_secret_access_key = s3\n"
				 "region = ap-south-1\n");
	env_set("AWS_SHARED_CREDENTIALS_FILE", cred);
	env_set("AWS_CONFIG_FILE", conf);
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_OK);
	CHECK_STR(c.access_key, "FROMCRED");
	CHECK_STR(c.secret_key, "s1");
	CHECK(c.session_token == NULL); /* not the config file's token */
	creds_clear(&c);

	env_set("AWS_PROFILE", "dev");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_OK);
	CHECK_STR(c.access_key, "DEVCONF");
	creds_clear(&c);
	char *r = creds_profile_region(&fsys);
	CHECK_STR(r, "ap-south-1");
	free(r);

	env_set("AWS_PROFILE", "");
	r = creds_profile_region(&fsys);
	CHECK_STR(r, "eu-central-1");
	free(r);

	/* Without the credentials file, the config file's keys. */
	env_set("AWS_SHARED_CREDENTIALS_FILE", "/tmp/creds-unit/nonexistent");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_OK);
	CHECK_STR(c.access_key, "FROMCONF");
	CHECK_STR(c.session_token, "t2");
	creds_clear(&c);
}

static void test_profile_missing(void)
{
	struct creds c = {0};
	struct err e;
	env_reset();
	/* No files at all (empty HOME): not here. */
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_NOT_HERE);
	char *r = creds_profile_region(&fsys);
	CHECK(r == NULL);
	free(r);

	char *cred = write_file("credentials2", "[default]\r\n# keys below\r\naws_access_key_id=A\r\n"
						"aws_secret_access_key = B=\r\n");
	env_set("AWS_SHARED_CREDENTIALS_FILE", cred);
	env_set("AWS_CONFIG_FILE", "/tmp/creds-unit/nonexistent");
	env_set("AWS_PROFILE", "prod");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "\"prod\"") != NULL);
	CHECK(strstr(e.msg, cred) != NULL);
	CHECK(strstr(e.msg, "/tmp/creds-unit/nonexistent (missing)") != NULL);

	env_set("AWS_PROFILE", "default");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_OK);
	CHECK_STR(c.access_key, "A");
	CHECK_STR(c.secret_key, "B=");
	creds_clear(&c);

	/* Half a key pair is an error naming the file; a profile with only
	 * a region is not a source of credentials; role_arn is refused. */
	cred = write_file("credentials3",
			  "[default]\naws_access_key_id = A\n[regiononly]\nregion = us-east-2\n"
			  "[assume]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = default\n");
	env_set("AWS_SHARED_CREDENTIALS_FILE", cred);
	env_set("AWS_PROFILE", "");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "no aws_secret_access_key") != NULL);
	/* Named in AWS_PROFILE, it is refused rather than passed over. */
	env_set("AWS_PROFILE", "regiononly");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "the AWS profile \"regiononly\" has no credentials") != NULL);
	/* role_arn whose source_profile holds half a key pair: that half is
	 * named, and nothing is assumed. */
	env_set("AWS_PROFILE", "assume");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "no aws_secret_access_key") != NULL);
	CHECK(c.access_key == NULL);

	/* ~ in the variable is HOME. */
	env_reset();
	env_set("HOME", "/tmp/creds-unit");
	env_set("AWS_SHARED_CREDENTIALS_FILE", "~/credentials2");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_OK);
	CHECK_STR(c.access_key, "A");
	creds_clear(&c);
}

/* ---- container endpoint ---- */

static void test_ecs_allow_list(void)
{
	static const struct {
		const char *url;
		int ok;
	} cases[] = {
	    {"http://127.0.0.1:8080/creds", 1},
	    {"http://127.1.2.3/creds", 1},
	    {"http://localhost/creds", 1},
	    {"http://LOCALHOST:99", 1},
	    {"http://[::1]:8080/creds", 1},
	    {"http://169.254.170.2/v2/credentials/x", 1},
	    {"http://169.254.170.23/v1/credentials", 1},
	    {"http://[fd00:ec2::23]/v1/credentials", 1},
	    {"HTTP://127.0.0.1/", 1},
	    {"https://0.0.0.0/creds", 1},
	    {"https://creds.example.com/x", 1},
	    {"http://0.0.0.0/creds", 0},
	    {"http://0.0.0.0:8080", 0},
	    {"http://169.254.170.3/", 0},
	    {"http://169.254.169.254/", 0},
	    {"http://example.com/", 0},
	    {"http://127.0.0.1.example.com/", 0},
	    {"http://127.1/", 0},
	    {"http://0x7f.0.0.1/", 0},
	    {"http://localhost.example.com/", 0},
	    {"http://127.0.0.1@0.0.0.0/", 0},
	    {"http://user@127.0.0.1/", 0},
	    {"http://169.254.169.254user!!$!!!!!!!@168+254.@127.0.0.1/", 0}, /* found by fuzz_ecs_url */
	    {"http://0.0.0.0\\@127.0.0.1/", 0},
	    {"http://[::2]/", 0},
	    {"http://[::1/", 0},
	    {"http://127.0.0.1:80x/", 0},
	    {"http:///creds", 0},
	    {"ftp://127.0.0.1/", 0},
	    {"127.0.0.1/creds", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct err e = {""};
		int r = creds_ecs_url_allowed(cases[i].url, &e);
		if ((r == 0) != cases[i].ok) {
			fprintf(stderr, "  %s: got %s (%s)\n", cases[i].url, r == 0 ? "allowed" : "refused",
				e.msg);
			check_case_failed = 1;
		}
		if (!cases[i].ok)
			CHECK(e.msg[0] != '\0');
	}
	struct err e;
	creds_ecs_url_allowed("http://0.0.0.0/creds", &e);
	CHECK(strstr(e.msg, "refusing") && strstr(e.msg, "0.0.0.0") && strstr(e.msg, "use https"));
}

static void test_creds_json(void)
{
	struct creds c = {0};
	struct err e;
	const char *full = "{\"AccessKeyId\":\"ASIA1\",\"SecretAccessKey\":\"sk\",\"Token\":\"tok\","
			   "\"Expiration\":\"2026-11-21T13:00:00Z\"}";
	CHECK(creds_parse_json(span_str(full), &c, &e) == 0);
	CHECK_STR(c.access_key, "ASIA1");
	CHECK_STR(c.secret_key, "sk");
	CHECK_STR(c.session_token, "tok");
	CHECK(c.expires_ms == 1795266000000LL);

	const char *noexp = "{\"AccessKeyId\":\"AKIA\",\"SecretAccessKey\":\"sk2\"}";
	CHECK(creds_parse_json(span_str(noexp), &c, &e) == 0);
	CHECK_STR(c.access_key, "AKIA");
	CHECK(c.session_token == NULL);
	CHECK(c.expires_ms == 0);

	const char *imds =
	    "{\"Code\":\"Success\",\"LastUpdated\":\"2026-11-21T12:00:00Z\",\"Type\":\"AWS-HMAC\","
	    "\"AccessKeyId\":\"ASIA2\",\"SecretAccessKey\":\"s\",\"Token\":\"t\","
	    "\"Expiration\":\"2026-11-21T18:00:00Z\"}";
	CHECK(creds_parse_json(span_str(imds), &c, &e) == 0);
	CHECK_STR(c.access_key, "ASIA2");
	creds_clear(&c);

	static const char *const bad[] = {
	    "{\"AccessKeyId\":\"A\"}",
	    "{\"SecretAccessKey\":\"s\"}",
	    "{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"s\"}",
	    "{\"AccessKeyId\":1,\"SecretAccessKey\":\"s\"}",
	    "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Expiration\":\"tomorrow\"}",
	    ("{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"no\",\"AccessKeyId\":\"A\","
	     "\"SecretAccessKey\":\"s\"}"),
	    "[\"AccessKeyId\"]",
	    "not json",
	    "",
	    "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&e, 0, sizeof e);
		if (creds_parse_json(span_str(bad[i]), &c, &e) == 0 || !e.msg[0] || c.access_key) {
			fprintf(stderr, "  accepted: %s\n", bad[i]);
			check_case_failed = 1;
		}
	}
	creds_parse_json(span_str(bad[0]), &c, &e);
	CHECK(strstr(e.msg, "SecretAccessKey") != NULL);
	creds_parse_json(span_str("{\"message\":\"Task role not found\"}"), &c, &e);
	CHECK(strstr(e.msg, "Task role not found") != NULL);
	/* Only the given bytes are read. */
	CHECK(creds_parse_json(span_of(full, 20), &c, &e) == -1);
}

static void test_iso8601(void)
{
	int64_t ms = 0;
	CHECK(iso8601_parse_ms(span_str("1970-01-01T00:00:00Z"), &ms) == 0 && ms == 0);
	CHECK(iso8601_parse_ms(span_str("2026-11-21T13:00:00Z"), &ms) == 0 && ms == 1795266000000LL);
	CHECK(iso8601_parse_ms(span_str("2026-11-21T13:00:00.250Z"), &ms) == 0 && ms == 1795266000250LL);
	CHECK(iso8601_parse_ms(span_str("2026-11-21T13:00:00.123456Z"), &ms) == 0 && ms == 1795266000123LL);
	CHECK(iso8601_parse_ms(span_str("2026-11-21T14:30:00+01:30"), &ms) == 0 && ms == 1795266000000LL);
	CHECK(iso8601_parse_ms(span_str("2026-11-21T11:00:00-0200"), &ms) == 0 && ms == 1795266000000LL);
	CHECK(iso8601_parse_ms(span_str("2024-02-29T00:00:00Z"), &ms) == 0 && ms == 1709164800000LL);
	CHECK(iso8601_parse_ms(span_str("2000-03-01T00:00:00Z"), &ms) == 0 && ms == 951868800000LL);
	CHECK(iso8601_parse_ms(span_str("2100-12-31T23:59:59Z"), &ms) == 0 && ms == 4133980799000LL);
	static const char *const bad[] = {
	    "2026-11-21T13:00:00",
	    "2026-11-21 13:00Z",
	    "2026-13-01T00:00:00Z",
	    "2025-02-29T00:00:00Z",
	    "2026-11-31T00:00:00Z",
	    "2026-11-21T24:00:00Z",
	    "2026-11-21T13:60:00Z",
	    "2026-11-21T13:00:00.Z",
	    "2026-11-21T13:00:00Zx",
	    "26-11-21T13:00:00Z",
	    "",
	    "2026-11-21T13:00:00+25:00",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (iso8601_parse_ms(span_str(bad[i]), &ms) == 0) {
			fprintf(stderr, "  accepted: %s\n", bad[i]);
			check_case_failed = 1;
		}
	}
	/* The span ends before the zone: not a complete time. */
	CHECK(iso8601_parse_ms(span_of("2026-11-21T13:00:00Z", 19), &ms) == -1);
}

static void test_ecs_token(void)
{
	struct creds c = {0};
	struct err e;
	struct fake f = {0};
	struct http h = fake_http(&f);
	env_reset();
	f.handler = ecs_handler;
	env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds");
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "from-env");
	CHECK(fetch(&creds_ecs_provider, &c, &e, &h) == CREDS_OK);
	CHECK_STR(c.access_key, "ASIA1");
	CHECK(f.n == 1);
	CHECK_STR(f.req[0].method, "GET");
	CHECK_STR(f.req[0].url, "http://127.0.0.1:1/creds");
	CHECK(strstr(f.req[0].headers, "Authorization: from-env\n") != NULL);
	creds_clear(&c);

	/* The file wins and loses its trailing newline. */
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", write_file("token", "from-file\r\n"));
	CHECK(fetch(&creds_ecs_provider, &c, &e, &h) == CREDS_OK);
	CHECK(strstr(f.req[1].headers, "Authorization: from-file\n") != NULL);
	creds_clear(&c);

	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", write_file("token2", "abc\nX-Injected: 1\n"));
	CHECK(fetch(&creds_ecs_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "line break") != NULL);
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/tmp/creds-unit/nonexistent");
	CHECK(fetch(&creds_ecs_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "nonexistent") != NULL);
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "");
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "a\rb");
	CHECK(fetch(&creds_ecs_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(f.n == 2);

	/* Refused hosts are never contacted. */
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "");
	env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://0.0.0.0:1/creds");
	CHECK(fetch(&creds_ecs_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "refusing") != NULL);
	CHECK(f.n == 2);

	/* The relative form goes to the ECS agent's address, with no token
	 * (the fake client: no traffic). */
	env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc");
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "unused");
	CHECK(fetch(&creds_ecs_provider, &c, &e, &h) == CREDS_OK);
	CHECK_STR(f.req[2].url, "http://169.254.170.2/v2/credentials/abc");
	CHECK(strstr(f.req[2].headers, "Authorization") == NULL);
	creds_clear(&c);

	/* An error answer becomes a sentence with the status. */
	f.status = 404;
	f.body = "{\"code\":\"NotFound\",\"message\":\"no such credentials\"}";
	CHECK(fetch(&creds_ecs_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "HTTP 404") && strstr(e.msg, "no such credentials"));
	CHECK(f.n == 4); /* a 4xx is not retried */
}

/* ---- the chain ---- */

static void test_chain_refresh(void)
{
	struct fake f = {0};
	struct http h = fake_http(&f);
	const struct creds *c = NULL;
	struct err e;
	env_reset();
	f.handler = ecs_handler;
	env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds");

	struct creds_chain *ch = creds_chain_new(&fsys, &h);
	CHECK_STR(creds_chain_source(ch), "none");
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK(f.n == 1);
	CHECK_STR(c->access_key, "ASIA1");
	CHECK_STR(c->session_token, "token1");
	CHECK_STR(creds_chain_source(ch), "container");
	CHECK(c->expires_ms == fake_now / 1000 * 1000 + 10 * 60 * 1000);

	fake_now += 4 * 60 * 1000; /* 6 minutes left: keep */
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK(f.n == 1);
	CHECK_STR(c->access_key, "ASIA1");

	fake_now += 2 * 60 * 1000; /* 4 minutes left: fetch again */
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK(f.n == 2);
	CHECK_STR(c->access_key, "ASIA2");

	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK(f.n == 2);
	creds_chain_invalidate(ch);
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK(f.n == 3);
	CHECK_STR(c->access_key, "ASIA3");
	creds_chain_free(ch);
}

static void test_chain_refresh_fails(void)
{
	struct fake f = {0};
	struct http h = fake_http(&f);
	const struct creds *c = NULL;
	struct err e;
	env_reset();
	f.handler = ecs_handler;
	env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds");
	struct creds_chain *ch = creds_chain_new(&fsys, &h);
	CHECK(creds_chain_get(ch, &c, &e) == 0);

	/* The endpoint breaks: retried, then the old (still valid) ones. */
	f.status = 503;
	f.body = "busy";
	fake_now += 6 * 60 * 1000;
	int64_t before = slept;
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK_STR(c->access_key, "ASIA1");
	CHECK(f.n == 5);
	CHECK(slept - before > 0 && slept - before <= 3000);

	/* Not tried again on every call, but after a while. */
	fake_now += 10 * 1000;
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK(f.n == 5);
	fake_now += 25 * 1000;
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK_STR(c->access_key, "ASIA1");
	CHECK(f.n == 9);

	/* Once they have expired there is nothing left to use. */
	fake_now += 5 * 60 * 1000;
	CHECK(creds_chain_get(ch, &c, &e) == -1);
	CHECK(strstr(e.msg, "HTTP 503") && strstr(e.msg, "retrying"));
	CHECK_STR(creds_chain_source(ch), "none");

	/* A few refused connections, then an answer: one get. */
	f.status = 0;
	f.body = NULL;
	f.fail_first = 2;
	int n = f.n;
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK(f.n == n + 3);
	CHECK_STR(c->access_key, "ASIA2");

	/* Slow failures: the retries stop at the budget, not the count. */
	creds_chain_invalidate(ch);
	f.fail_first = 10;
	f.cost_ms = 2000;
	n = f.n;
	int64_t t0 = fake_now;
	CHECK(creds_chain_get(ch, &c, &e) == -1);
	CHECK(f.n == n + 2);
	CHECK(fake_now - t0 <= 5000);
	creds_chain_free(ch);
}

static void test_chain_order(void)
{
	struct fake f = {0};
	struct http h = fake_http(&f);
	const struct creds *c = NULL;
	struct err e;

	/* Nothing anywhere: the one sentence. */
	env_reset();
	struct creds_chain *ch = creds_chain_new(&fsys, &h);
	CHECK(creds_chain_get(ch, &c, &e) == -1);
	CHECK_STR(e.msg,
		  "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
		  "or run with a task role");
	CHECK(f.n == 0);

	/* The environment beats the profile and the container. */
	f.handler = ecs_handler;
	env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds");
	env_set("AWS_SHARED_CREDENTIALS_FILE",
		write_file("credentials4", "[default]\naws_access_key_id=PROF\n"
					   "aws_secret_access_key=p\n"));
	env_set("AWS_ACCESS_KEY_ID", "ENV");
	env_set("AWS_SECRET_ACCESS_KEY", "e");
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK_STR(c->access_key, "ENV");
	CHECK_STR(creds_chain_source(ch), "environment");
	/* Long-term keys are never fetched again by time. */
	fake_now += 48LL * 3600 * 1000;
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK_STR(c->access_key, "ENV");

	creds_chain_invalidate(ch);
	env_set("AWS_ACCESS_KEY_ID", "");
	env_set("AWS_SECRET_ACCESS_KEY", "");
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK_STR(c->access_key, "PROF");
	CHECK_STR(creds_chain_source(ch), "profile");

	creds_chain_invalidate(ch);
	env_set("AWS_SHARED_CREDENTIALS_FILE", "");
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK_STR(creds_chain_source(ch), "container");
	CHECK(f.n == 1);

	/* A configured but broken provider stops the chain. */
	creds_chain_invalidate(ch);
	env_set("AWS_ACCESS_KEY_ID", "ONLYHALF");
	CHECK(creds_chain_get(ch, &c, &e) == -1);
	CHECK(strstr(e.msg, "AWS_SECRET_ACCESS_KEY") != NULL);
	CHECK(f.n == 1);
	creds_chain_free(ch);
}

/* ---- web identity ---- */

static void test_sts_xml(void)
{
	struct creds c = {0};
	struct err e;
	const char *ok =
	    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
	    "  <AssumeRoleWithWebIdentityResult>\n"
	    "    <SubjectFromWebIdentityToken>system:serviceaccount:x</SubjectFromWebIdentityToken>\n"
	    "    <Credentials>\n"
	    "      <AccessKeyId>ASIAWEB</AccessKeyId>\n"
	    "      <SecretAccessKey>s&amp;k/+</SecretAccessKey>\n"
	    "      <SessionToken>IQoJb3&#43;Jp</SessionToken>\n"
	    "      <Expiration>2026-11-21T13:00:00Z</Expiration>\n"
	    "    </Credentials>\n"
	    "  </AssumeRoleWithWebIdentityResult>\n"
	    "</AssumeRoleWithWebIdentityResponse>\n";
	CHECK(creds_sts_parse(span_str(ok), 200, &c, &e) == 0);
	CHECK_STR(c.access_key, "ASIAWEB");
	CHECK_STR(c.secret_key, "s&k/+");
	CHECK_STR(c.session_token, "IQoJb3+Jp");
	CHECK(c.expires_ms == 1795266000000LL);
	creds_clear(&c);

	const char *bad = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
			  "<Type>Sender</Type><Code>InvalidIdentityToken</Code>"
			  "<Message>Couldn&apos;t retrieve verification key</Message></Error>"
			  "<RequestId>r</RequestId></ErrorResponse>";
	CHECK(creds_sts_parse(span_str(bad), 400, &c, &e) == -1);
	CHECK_STR(e.msg, "STS AssumeRoleWithWebIdentity failed: InvalidIdentityToken: "
			 "Couldn't retrieve verification key");
	CHECK(c.access_key == NULL);
	CHECK(creds_sts_parse(span_str("oops"), 502, &c, &e) == -1);
	CHECK(strstr(e.msg, "HTTP 502") != NULL);
	CHECK(creds_sts_parse(span_str("<Credentials><AccessKeyId>A</AccessKeyId></Credentials>"), 200, &c,
			      &e) == -1);
	CHECK(creds_sts_parse(span_of(ok, 300), 200, &c, &e) == -1);
	/* A numeric reference cut off by the end of the span. */
	CHECK(creds_sts_parse(span_str("<ErrorResponse><Code>X</Code><Message>&#6"), 400, &c, &e) == -1);
}

static void sts_handler(struct fake *f, const struct http_request *req, struct http_response *resp)
{
	(void)req;
	f->served++;
	buf_puts(&resp->body,
		 "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
		 "<AccessKeyId>ASIAWI</AccessKeyId><SecretAccessKey>s</SecretAccessKey>"
		 "<SessionToken>t</SessionToken><Expiration>2026-11-21T13:00:00Z</Expiration>"
		 "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>");
}

static void test_web_identity(void)
{
	struct creds c = {0};
	struct err e;
	struct fake f = {0};
	struct http h = fake_http(&f);
	env_reset();
	f.handler = sts_handler;
	CHECK(fetch(&creds_web_identity_provider, &c, &e, &h) == CREDS_NOT_HERE);
	env_set("AWS_WEB_IDENTITY_TOKEN_FILE", write_file("webtoken", "eyJ.a+b/c=\n"));
	CHECK(fetch(&creds_web_identity_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "AWS_ROLE_ARN") != NULL);
	env_set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/web");
	env_set("AWS_ROLE_SESSION_NAME", "my session");
	env_set("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1");
	env_set("AWS_REGION", "eu-west-1");
	CHECK(fetch(&creds_web_identity_provider, &c, &e, &h) == CREDS_OK);
	CHECK_STR(c.access_key, "ASIAWI");
	CHECK(c.expires_ms == 1795266000000LL);
	CHECK(f.n == 1);
	CHECK_STR(f.req[0].method, "POST");
	CHECK_STR(f.req[0].url, "http://127.0.0.1:1/");
	CHECK_STR(f.req[0].body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
				 "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fweb"
				 "&RoleSessionName=my%20session&WebIdentityToken=eyJ.a%2Bb%2Fc%3D");
	CHECK(strstr(f.req[0].headers, "Content-Type: application/x-www-form-urlencoded") != NULL);
	CHECK(strstr(f.req[0].headers, "Authorization") == NULL);
	creds_clear(&c);

	f.status = 403;
	f.body = "<ErrorResponse><Error><Code>AccessDenied</Code><Message>Not authorized</Message></Error>"
		 "</ErrorResponse>";
	CHECK(fetch(&creds_web_identity_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "AccessDenied: Not authorized") && strstr(e.msg, "role/web"));
	CHECK(f.n == 2);

	env_set("AWS_WEB_IDENTITY_TOKEN_FILE", "/tmp/creds-unit/nonexistent");
	CHECK(fetch(&creds_web_identity_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "does not exist") != NULL);
	CHECK(f.n == 2);
}

/* ---- IMDS ---- */

static void imds_handler(struct fake *f, const struct http_request *req, struct http_response *resp)
{
	const char *base = "http://127.0.0.1:1";
	const char *path = strncmp(req->url, base, strlen(base)) == 0 ? req->url + strlen(base) : "";
	bool token_ok = req->n_headers == 1 &&
			strcmp(req->headers[0].name, "X-aws-ec2-metadata-token") == 0 &&
			strcmp(req->headers[0].value, "imds-session") == 0;
	if (strcmp(req->method, "PUT") == 0 && strcmp(path, "/latest/api/token") == 0) {
		buf_puts(&resp->body, "imds-session");
		return;
	}
	if (!token_ok) {
		resp->status = 401;
		return;
	}
	if (strcmp(path, "/latest/meta-data/iam/security-credentials/") == 0) {
		buf_puts(&resp->body, "my-role\n");
	} else if (strcmp(path, "/latest/meta-data/iam/security-credentials/my-role") == 0) {
		ecs_handler(f, req, resp);
	} else if (strcmp(path, "/latest/meta-data/placement/region") == 0) {
		buf_puts(&resp->body, "ap-northeast-2");
	} else {
		resp->status = 404;
	}
}

static void imds_norole_handler(struct fake *f, const struct http_request *req, struct http_response *resp)
{
	(void)f;
	if (strcmp(req->method, "PUT") == 0)
		buf_puts(&resp->body, "imds-session");
	else
		resp->status = 404;
}

static void test_imds(void)
{
	struct creds c = {0};
	struct err e;
	struct fake f = {0};
	struct http h = fake_http(&f);
	env_reset();
	f.handler = imds_handler;
	CHECK(fetch(&creds_imds_provider, &c, &e, &h) == CREDS_NOT_HERE);
	CHECK(f.n == 0);
	char *r = imds_region(&fsys, &h);
	CHECK(r == NULL);
	CHECK(f.n == 0);

	env_set("AWS_EC2_METADATA_DISABLED", "false");
	env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1/");
	CHECK(fetch(&creds_imds_provider, &c, &e, &h) == CREDS_OK);
	CHECK_STR(c.access_key, "ASIA1");
	CHECK_STR(c.session_token, "token1");
	CHECK(f.n == 3);
	CHECK_STR(f.req[0].method, "PUT");
	CHECK_STR(f.req[0].url, "http://127.0.0.1:1/latest/api/token");
	CHECK_STR(f.req[0].headers, "X-aws-ec2-metadata-token-ttl-seconds: 21600\n");
	CHECK_STR(f.req[1].method, "GET");
	CHECK_STR(f.req[1].url, "http://127.0.0.1:1/latest/meta-data/iam/security-credentials/");
	CHECK_STR(f.req[1].headers, "X-aws-ec2-metadata-token: imds-session\n");
	CHECK_STR(f.req[2].url, "http://127.0.0.1:1/latest/meta-data/iam/security-credentials/my-role");
	CHECK_STR(f.req[2].headers, "X-aws-ec2-metadata-token: imds-session\n");
	creds_clear(&c);

	r = imds_region(&fsys, &h);
	CHECK_STR(r, "ap-northeast-2");
	free(r);

	/* Nothing listening: not here, after one quick retry. */
	f.n = 0;
	f.fail_first = 10;
	CHECK(fetch(&creds_imds_provider, &c, &e, &h) == CREDS_NOT_HERE);
	CHECK(f.n == 2);
	f.fail_first = 0;

	/* No role on the instance: not here either.  A refused token (IMDS
	 * switched to v1 only, or off) likewise. */
	f.n = 0;
	f.handler = imds_norole_handler;
	CHECK(fetch(&creds_imds_provider, &c, &e, &h) == CREDS_NOT_HERE);
	CHECK(f.n == 2);
	CHECK(strstr(e.msg, "no IAM role") != NULL);
	f.n = 0;
	f.handler = NULL;
	f.status = 403;
	CHECK(fetch(&creds_imds_provider, &c, &e, &h) == CREDS_NOT_HERE);
	CHECK(f.n == 1);
	CHECK(c.access_key == NULL);
}

static void test_region(void)
{
	struct fake f = {0};
	struct http h = fake_http(&f);
	struct err e;
	char *r;
	env_reset();
	f.body = "{\"Cluster\":\"c\",\"TaskARN\":\"arn:aws:ecs:sa-east-1:123456789012:task/c/0123\","
		 "\"AvailabilityZone\":\"sa-east-1b\"}";

	r = region_resolve(&fsys, &h, NULL, &e);
	CHECK(r == NULL);
	CHECK_STR(e.msg,
		  "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or region in the AWS profile)");
	CHECK(f.n == 0);
	r = region_resolve(&fsys, &h, "us-west-1", &e);
	CHECK_STR(r, "us-west-1");
	free(r);
	CHECK(ecs_task_arn(&fsys, &h) == NULL);
	CHECK(ecs_task_arn(&fsys, NULL) == NULL);
	CHECK(f.n == 0);

	env_set("ECS_CONTAINER_METADATA_URI_V4", "http://127.0.0.1:1/v4/abc");
	r = region_resolve(&fsys, &h, "us-west-1", &e);
	CHECK_STR(r, "sa-east-1");
	free(r);
	CHECK(f.n == 1);
	CHECK_STR(f.req[0].url, "http://127.0.0.1:1/v4/abc/task");
	r = ecs_task_arn(&fsys, &h);
	CHECK_STR(r, "arn:aws:ecs:sa-east-1:123456789012:task/c/0123");
	free(r);

	/* Without an ARN, the zone's region. */
	f.body = "{\"AvailabilityZone\":\"eu-north-1c\"}";
	r = region_resolve(&fsys, &h, NULL, &e);
	CHECK_STR(r, "eu-north-1");
	free(r);
	r = ecs_task_arn(&fsys, &h);
	CHECK(r == NULL);

	env_set("AWS_CONFIG_FILE", write_file("config5", "[default]\nregion = ca-central-1\n"));
	r = region_resolve(&fsys, &h, NULL, &e);
	CHECK_STR(r, "ca-central-1");
	free(r);
	env_set("AWS_DEFAULT_REGION", "us-east-2");
	r = region_resolve(&fsys, &h, NULL, &e);
	CHECK_STR(r, "us-east-2");
	free(r);
	env_set("AWS_REGION", "cn-north-1");
	r = region_resolve(&fsys, &h, NULL, &e);
	CHECK_STR(r, "cn-north-1");
	free(r);
	env_set("AWS_REGION", "us-east-1.evil.com/");
	r = region_resolve(&fsys, &h, NULL, &e);
	CHECK(r == NULL);
	CHECK(strstr(e.msg, "AWS_REGION") != NULL);

	/* IMDS comes after the task metadata, and only when enabled. */
	env_reset();
	f.n = 0;
	f.body = NULL;
	f.handler = imds_handler;
	env_set("AWS_EC2_METADATA_DISABLED", "");
	env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1");
	r = region_resolve(&fsys, &h, "us-west-1", &e);
	CHECK_STR(r, "ap-northeast-2");
	free(r);
	/* No http: no look-ups. */
	r = region_resolve(&fsys, NULL, "us-west-1", &e);
	CHECK_STR(r, "us-west-1");
	free(r);
}

/* ---- regression tests from fuzzing (tests/fuzz/fuzz_sts.c) ---- */

/* Empty <Expiration> and <Code> elements leave their buffers without data:
 * they must read as "", not as a NULL pointer (UBSan in `make asan`). */
static void test_fuzz_sts_empty_elements(void)
{
	struct creds c = { 0 };
	struct err e;
	CHECK(creds_sts_parse(span_str("<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>S"
				       "</SecretAccessKey><SessionToken>T</SessionToken><Expiration>"
				       "</Expiration></Credentials>"),
			      200, &c, &e) == -1);
	CHECK(strstr(e.msg, "Expiration") != NULL);
	CHECK(!c.access_key);
	CHECK(creds_sts_parse(span_str("<ErrorResponse><Error><Code></Code></Error></ErrorResponse>"), 400, &c,
			      &e) == -1);
	CHECK(strstr(e.msg, "STS AssumeRoleWithWebIdentity failed") != NULL);
	creds_clear(&c);
}

/* ---- role_arn, credential_process, SSO ---- */

static void assume_handler(struct fake *f, const struct http_request *req, struct http_response *resp)
{
	(void)req;
	char exp[40];
	iso(fake_now + 60 * 60 * 1000, exp, sizeof exp);
	f->served++;
	buf_printf(&resp->body,
		   "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE%d</AccessKeyId>"
		   "<SecretAccessKey>rs%d</SecretAccessKey><SessionToken>rt%d</SessionToken><Expiration>%s"
		   "</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>",
		   f->served, f->served, f->served, exp);
}

static void imds_handler(struct fake *f, const struct http_request *req, struct http_response *resp);

/* The container endpoint on /creds, IMDS on /latest/, STS anywhere else. */
static void ecs_then_sts_handler(struct fake *f, const struct http_request *req, struct http_response *resp)
{
	if (strstr(req->url, "/creds"))
		ecs_handler(f, req, resp);
	else if (strstr(req->url, "/latest/"))
		imds_handler(f, req, resp);
	else
		assume_handler(f, req, resp);
}

static void test_assume_role_from_container(void)
{
	struct fake f = {.handler = ecs_then_sts_handler};
	struct http h = fake_http(&f);
	struct creds c = {0};
	struct err e;
	env_reset();
	env_set("AWS_REGION", "eu-west-1");
	env_set("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9/sts");
	env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds");
	env_set("AWS_CONFIG_FILE", write_file("config-role-ecs", "[profile ecs]\nrole_arn = arn:aws:iam::1:role/E\n"
								    "credential_source = EcsContainer\n"));
	env_set("AWS_PROFILE", "ecs");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_OK);
	CHECK(f.n == 2);
	CHECK_STR(f.req[0].url, "http://127.0.0.1:1/creds");
	/* The task role's temporary keys sign AssumeRole, token included. */
	CHECK(strstr(f.req[1].headers, "Credential=ASIA1/") != NULL);
	CHECK(strstr(f.req[1].headers, "X-Amz-Security-Token: token1\n") != NULL);
	CHECK(c.access_key && strncmp(c.access_key, "ASIAROLE", 8) == 0);
	creds_clear(&c);

	/* Ec2InstanceMetadata: IMDSv2's role keys sign it. */
	f.n = 0;
	env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "");
	env_set("AWS_EC2_METADATA_DISABLED", "false");
	env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1/");
	env_set("AWS_CONFIG_FILE", write_file("config-role-imds", "[profile ec2]\nrole_arn = arn:aws:iam::1:role/E\n"
								     "credential_source = Ec2InstanceMetadata\n"));
	env_set("AWS_PROFILE", "ec2");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_OK);
	CHECK(f.n == 4);
	CHECK_STR(f.req[2].url, "http://127.0.0.1:1/latest/meta-data/iam/security-credentials/my-role");
	CHECK(strstr(f.req[3].headers, "X-Amz-Security-Token: token") != NULL);
	CHECK(strstr(f.req[3].body, "Action=AssumeRole&") != NULL);
	CHECK(c.access_key && strncmp(c.access_key, "ASIAROLE", 8) == 0);
	creds_clear(&c);
}

static void test_assume_role(void)
{
	struct fake f = {.handler = assume_handler};
	struct http h = fake_http(&f);
	struct creds c = {0};
	struct err e;
	env_reset();
	env_set("AWS_REGION", "eu-west-1");
	env_set("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9/sts");
	env_set("AWS_CONFIG_FILE",
		write_file("config-role",
			   "[profile r]\nrole_arn = arn:aws:iam::123456789012:role/R\nsource_profile = base\n"
			   "role_session_name = my session\nexternal_id = ext-1\nduration_seconds = 1800\n"
			   "[profile base]\naws_access_key_id = BASEKEY\naws_secret_access_key = bs\n"
			   "[profile env]\nrole_arn = arn:aws:iam::123456789012:role/E\ncredential_source = Environment\n"
			   "[profile ecs]\nrole_arn = arn:aws:iam::123456789012:role/E\ncredential_source = EcsContainer\n"
			   "[profile odd]\nrole_arn = arn:aws:iam::123456789012:role/E\ncredential_source = Lambda\n"
			   "[profile both]\nrole_arn = arn:aws:iam::1:role/E\ncredential_source = Environment\n"
			   "source_profile = base\n"
			   "[profile none]\nrole_arn = arn:aws:iam::1:role/E\n"
			   "[profile long]\nrole_arn = arn:aws:iam::1:role/E\nsource_profile = base\n"
			   "duration_seconds = 99999\n"
			   "[profile self]\nrole_arn = arn:aws:iam::1:role/S\nsource_profile = self\n"
			   "aws_access_key_id = SELFKEY\naws_secret_access_key = ss\n"
			   "[profile missing]\nrole_arn = arn:aws:iam::1:role/E\nsource_profile = nowhere\n"
			   "[profile wif]\nrole_arn = arn:aws:iam::1:role/W\nweb_identity_token_file = /t\n"
			   "[profile wifkeys]\nweb_identity_token_file = /t\naws_access_key_id = WK\n"
			   "aws_secret_access_key = w\n"));
	env_set("AWS_PROFILE", "r");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_OK);
	CHECK_STR(c.access_key, "ASIAROLE1");
	CHECK_STR(c.session_token, "rt1");
	CHECK(c.expires_ms == fake_now + 60 * 60 * 1000);
	CHECK(f.n == 1);
	CHECK_STR(f.req[0].url, "http://127.0.0.1:9/sts/");
	CHECK(strstr(f.req[0].body, "Action=AssumeRole&") != NULL);
	CHECK(strstr(f.req[0].body, "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FR") != NULL);
	CHECK(strstr(f.req[0].body, "RoleSessionName=my%20session") != NULL);
	CHECK(strstr(f.req[0].body, "ExternalId=ext-1") != NULL);
	CHECK(strstr(f.req[0].body, "DurationSeconds=1800") != NULL);
	/* Signed by the source profile's keys, for STS in the region. */
	CHECK(strstr(f.req[0].headers, "Credential=BASEKEY/") != NULL);
	CHECK(strstr(f.req[0].headers, "/eu-west-1/sts/aws4_request") != NULL);
	creds_clear(&c);

	/* credential_source = Environment: the environment's keys sign. */
	env_set("AWS_PROFILE", "env");
	env_set("AWS_ACCESS_KEY_ID", "ENVKEY");
	env_set("AWS_SECRET_ACCESS_KEY", "es");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_OK);
	CHECK(strstr(f.req[1].headers, "Credential=ENVKEY/") != NULL);
	CHECK(strstr(f.req[1].body, "RoleSessionName=sfn-agent-") != NULL);
	CHECK(strstr(f.req[1].body, "DurationSeconds") == NULL);
	creds_clear(&c);
	env_set("AWS_ACCESS_KEY_ID", "");
	env_set("AWS_SECRET_ACCESS_KEY", "");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "credential_source = Environment, which needs AWS_ACCESS_KEY_ID") != NULL);

	/* Each misconfiguration is one sentence, and nothing is sent. */
	int sent_before = f.n;
	env_set("AWS_PROFILE", "ecs");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "credential_source = EcsContainer, which needs AWS_CONTAINER_CREDENTIALS") != NULL);
	env_set("AWS_PROFILE", "odd");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "use Environment, EcsContainer or Ec2InstanceMetadata") != NULL);
	env_set("AWS_PROFILE", "both");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "both source_profile and credential_source") != NULL);
	env_set("AWS_PROFILE", "none");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "neither source_profile nor credential_source") != NULL);
	env_set("AWS_PROFILE", "long");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "from 900 to 43200") != NULL);
	env_set("AWS_PROFILE", "missing");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "source_profile \"nowhere\" of the AWS profile \"missing\" does not exist") != NULL);
	env_set("AWS_PROFILE", "wif");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "uses web_identity_token_file, which sfn-agent does not support") != NULL);
	/* Without role_arn the key means nothing, as in botocore. */
	env_set("AWS_PROFILE", "wifkeys");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_OK);
	CHECK_STR(c.access_key, "WK");
	creds_clear(&c);
	CHECK(f.n == sent_before);

	/* A profile may be its own source when it holds the keys. */
	env_set("AWS_PROFILE", "self");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_OK);
	CHECK(strstr(f.req[f.n - 1].headers, "Credential=SELFKEY/") != NULL);
	creds_clear(&c);

	/* STS's refusal is named with the role. */
	f.handler = NULL;
	f.status = 403;
	f.body = "<ErrorResponse><Error><Code>AccessDenied</Code><Message>not &quot;allowed&quot;</Message>"
		 "</Error></ErrorResponse>";
	env_set("AWS_PROFILE", "r");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK_STR(e.msg, "STS AssumeRole of arn:aws:iam::123456789012:role/R (profile \"r\") failed: AccessDenied: "
			 "not \"allowed\"");
	CHECK(c.access_key == NULL);
}

static void test_process_split(void)
{
	char **argv = NULL;
	struct err e;
	CHECK(creds_process_split("  /opt/my\\ tool  --a 'b c' \"d \\\"e\\\" $f\" g'h'i ", &argv, &e) == 0);
	CHECK_STR(argv[0], "/opt/my tool");
	CHECK_STR(argv[1], "--a");
	CHECK_STR(argv[2], "b c");
	CHECK_STR(argv[3], "d \"e\" $f");
	CHECK_STR(argv[4], "ghi");
	CHECK(argv[5] == NULL);
	creds_argv_free(argv);
	CHECK(creds_process_split("x ''", &argv, &e) == 0);
	CHECK_STR(argv[1], "");
	CHECK(argv[2] == NULL);
	creds_argv_free(argv);
	CHECK(creds_process_split("   ", &argv, &e) == -1);
	CHECK(strstr(e.msg, "credential_process is empty") != NULL);
	CHECK(creds_process_split("tool 'open", &argv, &e) == -1);
	CHECK(strstr(e.msg, "unbalanced quote") != NULL);
	CHECK(creds_process_split("tool \"open", &argv, &e) == -1);
	CHECK(creds_process_split("tool \\", &argv, &e) == -1);
}

static void test_process_parse(void)
{
	struct creds c = {0};
	struct err e;
	CHECK(creds_process_parse(span_str("{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\","
					   "\"SessionToken\":\"T\",\"Expiration\":\"2026-11-18T12:00:00Z\"}"),
				  &c, &e) == 0);
	CHECK_STR(c.access_key, "A");
	CHECK_STR(c.session_token, "T");
	CHECK(c.expires_ms == 1795003200000LL);
	CHECK(creds_process_parse(span_str("{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}"), &c,
				  &e) == 0);
	CHECK(c.session_token == NULL && c.expires_ms == 0);
	static const struct {
		const char *in, *says;
	} bad[] = {
	    {"not json", "not a JSON object"},
	    {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}", "has no Version"},
	    {"{\"Version\":2,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}", "unsupported Version: it must be 1"},
	    {"{\"Version\":\"1\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}", "unsupported Version"},
	    {"{\"Version\":1,\"SecretAccessKey\":\"S\"}", "has no AccessKeyId"},
	    {"{\"Version\":1,\"AccessKeyId\":\"A\"}", "has no SecretAccessKey"},
	    {"{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"soon\"}",
	     "Expiration that is not an ISO 8601 time"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(creds_process_parse(span_str(bad[i].in), &c, &e) == -1);
		CHECK(strstr(e.msg, bad[i].says) != NULL);
		CHECK(c.access_key == NULL);
	}
	creds_clear(&c);
}

static void test_process_run(void)
{
	struct creds c = {0};
	struct err e;
	env_reset();
	char *ok = write_file("proc-ok.sh", "#!/bin/sh\n[ \"$1\" = 'a b' ] || exit 9\n"
					    "echo '{\"Version\": 1, \"AccessKeyId\": \"PROC\", \"SecretAccessKey\": \"ps\"}'\n");
	char *bin = write_file("proc-bin.sh", "#!/bin/sh\nprintf '{\"Version\": 1, \"AccessKeyId\": \"A\\001\", "
					     "\"SecretAccessKey\": \"S\"}'\n");
	chmod(ok, 0700);
	chmod(bin, 0700);
	char conf[512];
	snprintf(conf, sizeof conf,
		 "[profile ok]\ncredential_process = %s 'a b'\n[profile st]\ncredential_process = %s other\n"
		 "[profile bin]\ncredential_process = %s\n[profile nf]\ncredential_process = no-such-helper-x\n"
		 "[profile keys]\ncredential_process = %s 'a b'\naws_access_key_id = FILEKEY\n"
		 "aws_secret_access_key = fk\n",
		 ok, ok, bin, ok);
	env_set("AWS_CONFIG_FILE", write_file("config-proc", conf));
	env_set("AWS_PROFILE", "ok");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_OK);
	CHECK_STR(c.access_key, "PROC");
	creds_clear(&c);
	env_set("AWS_PROFILE", "st");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "exited with status 9") != NULL);
	env_set("AWS_PROFILE", "nf");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "no-such-helper-x was not found in PATH") != NULL);
	/* A control byte in a key is refused, and the key is not quoted. */
	env_set("AWS_PROFILE", "bin");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "access key id from credential_process has a byte outside printable ASCII (0x01") != NULL);
	CHECK(c.access_key == NULL);
	/* Keys in the config file come after credential_process (botocore's
	 * order); keys in the credentials file come before it. */
	env_set("AWS_PROFILE", "keys");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_OK);
	CHECK_STR(c.access_key, "PROC");
	creds_clear(&c);
	env_set("AWS_SHARED_CREDENTIALS_FILE",
		write_file("credentials-proc", "[keys]\naws_access_key_id = CREDFILE\naws_secret_access_key = x\n"));
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_OK);
	CHECK_STR(c.access_key, "CREDFILE");
	creds_clear(&c);
}

static void test_process_expiration(void)
{
	const struct creds *c = NULL;
	struct err e;
	env_reset();
	/* Ten minutes after the fake now; each run leaves a line in a log. */
	unlink("/tmp/creds-unit/proc-runs.log");
	char *script = write_file("proc-exp.sh", "#!/bin/sh\necho run >> /tmp/creds-unit/proc-runs.log\n"
						 "echo '{\"Version\": 1, \"AccessKeyId\": \"EXP\", \"SecretAccessKey\": "
						 "\"s\", \"SessionToken\": \"t\", \"Expiration\": "
						 "\"2026-11-18T11:16:40Z\"}'\n");
	chmod(script, 0700);
	char conf[256];
	snprintf(conf, sizeof conf, "[default]\ncredential_process = %s\n", script);
	env_set("AWS_CONFIG_FILE", write_file("config-proc-exp", conf));
	struct creds_chain *ch = creds_chain_new(&fsys, NULL);
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK(c->expires_ms == fake_now + 10 * 60 * 1000);
	fake_now += 4 * 60 * 1000; /* 6 minutes left: kept */
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	fake_now += 2 * 60 * 1000; /* 4 minutes left: run again */
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	creds_chain_free(ch);
	struct buf log = BUF_INIT;
	CHECK(creds_read_file("/tmp/creds-unit/proc-runs.log", 1024, &log, &e) == 0);
	CHECK_STR(buf_cstr(&log), "run\nrun\n");
	buf_free(&log);
}

static void test_printable(void)
{
	struct creds c = {0};
	struct err e;
	env_reset();
	env_set("AWS_SHARED_CREDENTIALS_FILE",
		write_file("credentials-bin", "[default]\naws_access_key_id = AKIDX\naws_secret_access_key = s\xc3\xa9"
					      "cret\n"));
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "secret key from the AWS profile \"default\" has a byte outside printable ASCII (0xc3 at offset 1)") !=
	      NULL);
	CHECK(strstr(e.msg, "s\xc3") == NULL);
	struct creds ok = {"AKID", "abc/+=", "tok", 0};
	CHECK(creds_check_printable(&ok, "x", &e) == 0);
	struct creds sp = {"AKID", "abc def", NULL, 0};
	CHECK(creds_check_printable(&sp, "x", &e) == -1);
}

static int64_t sso_role_ms = 3600 * 1000; /* how long the role's keys last */

static void sso_handler(struct fake *f, const struct http_request *req, struct http_response *resp)
{
	(void)req;
	f->served++;
	buf_printf(&resp->body,
		   "{\"roleCredentials\":{\"accessKeyId\":\"ASIASSO%d\",\"secretAccessKey\":\"ss\","
		   "\"sessionToken\":\"st\",\"expiration\":%lld}}",
		   f->served, (long long)(fake_now + sso_role_ms));
}

static void test_sso(void)
{
	struct fake f = {.handler = sso_handler};
	struct http h = fake_http(&f);
	struct creds c = {0};
	struct err e;
	env_reset();
	char *path = creds_sso_cache_path(&fsys, "my-sso");
	CHECK_STR(path, "/tmp/creds-unit/empty-home/.aws/sso/cache/0ad374308c5a4e22f723adf10145eafad7c4031c.json");
	free(path);

	env_set("HOME", "/tmp/creds-unit/sso-home");
	mkdir("/tmp/creds-unit/sso-home", 0700);
	mkdir("/tmp/creds-unit/sso-home/.aws", 0700);
	mkdir("/tmp/creds-unit/sso-home/.aws/sso", 0700);
	mkdir("/tmp/creds-unit/sso-home/.aws/sso/cache", 0700);
	/* Left over from an earlier run. */
	unlink("/tmp/creds-unit/sso-home/.aws/sso/cache/0ad374308c5a4e22f723adf10145eafad7c4031c.json");
	env_set("AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:9/");
	env_set("AWS_CONFIG_FILE",
		write_file("config-sso", "[profile dev]\nsso_session = my-sso\nsso_account_id = 111122223333\n"
					 "sso_role_name = Dev Role\n"
					 "[sso-session my-sso]\nsso_start_url = https://x.awsapps.com/start\n"
					 "sso_region = eu-west-1\n"
					 "[profile nosession]\nsso_session = gone\nsso_account_id = 1\nsso_role_name = r\n"
					 "[profile norole]\nsso_session = my-sso\nsso_account_id = 1\n"));
	env_set("AWS_PROFILE", "dev");
	/* No login yet: the command that makes one. */
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "no cached login") != NULL);
	CHECK(strstr(e.msg, "run aws sso login --profile dev") != NULL);
	CHECK(f.n == 0);

	char cache[256];
	iso(fake_now + 60 * 1000, cache, sizeof cache);
	char text[512];
	snprintf(text, sizeof text, "{\"accessToken\":\"TOKEN1\",\"expiresAt\":\"%s\",\"refreshToken\":\"R\"}", cache);
	FILE *fp = fopen("/tmp/creds-unit/sso-home/.aws/sso/cache/0ad374308c5a4e22f723adf10145eafad7c4031c.json", "w");
	CHECK(fp != NULL);
	if (!fp)
		return;
	fputs(text, fp);
	fclose(fp);
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_OK);
	CHECK_STR(c.access_key, "ASIASSO1");
	CHECK(c.expires_ms == fake_now + 3600 * 1000);
	CHECK_STR(f.req[0].url, "http://127.0.0.1:9/federation/credentials?account_id=111122223333&role_name=Dev%20Role");
	CHECK(strstr(f.req[0].headers, "x-amz-sso_bearer_token: TOKEN1\n") != NULL);
	CHECK_STR(f.req[0].method, "GET");
	creds_clear(&c);

	/* The role's keys are fetched again 5 minutes before they expire,
	 * through the chain, while the login lasts. */
	sso_role_ms = 10 * 60 * 1000;
	fake_now -= 10 * 60 * 1000; /* the login now has 11 minutes left */
	struct creds_chain *ch = creds_chain_new(&fsys, &h);
	const struct creds *cc = NULL;
	CHECK(creds_chain_get(ch, &cc, &e) == 0);
	CHECK_STR(cc->access_key, "ASIASSO2");
	fake_now += 4 * 60 * 1000;
	CHECK(creds_chain_get(ch, &cc, &e) == 0);
	CHECK(f.n == 2);
	fake_now += 2 * 60 * 1000;
	CHECK(creds_chain_get(ch, &cc, &e) == 0);
	CHECK(f.n == 3);
	CHECK_STR(cc->access_key, "ASIASSO3");
	creds_chain_free(ch);
	fake_now += 4 * 60 * 1000;
	sso_role_ms = 3600 * 1000;

	/* Two minutes later the login has expired: said without a request. */
	fake_now += 2 * 60 * 1000;
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "the SSO login of the AWS profile \"dev\" expired at") != NULL);
	CHECK(strstr(e.msg, ": run aws sso login --profile dev") != NULL);
	CHECK(f.n == 3);

	env_set("AWS_PROFILE", "nosession");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "has no [sso-session gone]") != NULL);
	env_set("AWS_PROFILE", "norole");
	CHECK(fetch(&creds_profile_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "has no sso_role_name: add it") != NULL);

	CHECK(creds_sso_parse(span_str("{\"roleCredentials\":{\"accessKeyId\":\"A\"}}"), &c, &e) == -1);
	CHECK(strstr(e.msg, "no roleCredentials") != NULL);
}

static void test_explicit_profile(void)
{
	const struct creds *c = NULL;
	struct err e;
	env_reset();
	env_set("AWS_ACCESS_KEY_ID", "ENV");
	env_set("AWS_SECRET_ACCESS_KEY", "e");
	env_set("AWS_PROFILE", "other");
	env_set("AWS_CONFIG_FILE", write_file("config-explicit", "[profile named]\naws_access_key_id = NAMED\n"
								 "aws_secret_access_key = n\nregion = sa-east-1\n"));
	/* --profile beats AWS_PROFILE and the environment's keys, as the AWS
	 * CLI's --profile does; its region is the one used. */
	creds_use_profile("named");
	struct creds_chain *ch = creds_chain_new(&fsys, NULL);
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK_STR(c->access_key, "NAMED");
	char *r = creds_profile_region(&fsys);
	CHECK_STR(r, "sa-east-1");
	free(r);
	creds_chain_free(ch);
	creds_use_profile("absent");
	ch = creds_chain_new(&fsys, NULL);
	CHECK(creds_chain_get(ch, &c, &e) == -1);
	CHECK(strstr(e.msg, "--profile is \"absent\" but there is no such profile") != NULL);
	creds_chain_free(ch);
	creds_use_profile(NULL);
	ch = creds_chain_new(&fsys, NULL);
	CHECK(creds_chain_get(ch, &c, &e) == 0);
	CHECK_STR(c->access_key, "ENV");
	creds_chain_free(ch);
}

/* An endpoint that echoes the request (a debugging proxy, a misrouted URL)
 * puts the authorization token in its error answer: the sentence that
 * quotes the answer must not carry it, whole or in part. */
static void echo_handler(struct fake *f, const struct http_request *req, struct http_response *resp)
{
	(void)f;
	buf_printf(&resp->body, "{\"message\":\"bad request: GET %s", req->url);
	for (size_t i = 0; i < req->n_headers; i++)
		buf_printf(&resp->body, " %s: %s", req->headers[i].name, req->headers[i].value);
	buf_puts(&resp->body, "\"}");
}

static void test_ecs_echo_redacts_token(void)
{
	static const char token[] = "AuthTokenSecretPart-0123456789abcdefghijklmnopqrstuvwxyz";
	struct creds c = {0};
	struct err e;
	struct fake f = {0};
	struct http h = fake_http(&f);
	env_reset();
	env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds");
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", token);
	f.handler = echo_handler;
	f.status = 400;
	CHECK(fetch(&creds_ecs_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "HTTP 400") != NULL);
	CHECK(strstr(e.msg, "bad request") != NULL);
	for (size_t i = 0; i + 16 <= sizeof token - 1; i++) {
		char piece[17];
		memcpy(piece, token + i, 16);
		piece[16] = '\0';
		if (strstr(e.msg, piece)) {
			fprintf(stderr, "  token piece in: %s\n", e.msg);
			CHECK(!"the authorization token is quoted");
			break;
		}
	}
	/* A 200 whose JSON says so in its message, likewise. */
	f.status = 200;
	CHECK(fetch(&creds_ecs_provider, &c, &e, &h) == CREDS_FAILED);
	CHECK(strstr(e.msg, "unusable") != NULL);
	CHECK(strstr(e.msg, "SecretPart-0123") == NULL);
}

/* Keys and tokens become request headers: a CR or LF in one would add a
 * header of the endpoint's choosing to every Step Functions request.  From
 * every source, anything but printable ASCII is refused with a sentence
 * that names the source and the field, never the value. */
static void bad_token_handler(struct fake *f, const struct http_request *req, struct http_response *resp)
{
	(void)f;
	(void)req;
	buf_puts(&resp->body, "{\"AccessKeyId\":\"ASIABAD\",\"SecretAccessKey\":\"secretsecret\","
			      "\"Token\":\"tok\\r\\nX-Injected: yes\",\"Expiration\":\"2099-01-01T00:00:00Z\"}");
}

static void test_creds_printable_only(void)
{
	struct fake f = {0};
	struct http h = fake_http(&f);
	const struct creds *c = NULL;
	struct err e = {""};
	env_reset();
	f.handler = bad_token_handler;
	env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds");
	struct creds_chain *ch = creds_chain_new(&fsys, &h);
	CHECK(creds_chain_get(ch, &c, &e) == -1);
	CHECK(strstr(e.msg, "session token") != NULL);
	CHECK(strstr(e.msg, "container") != NULL);
	CHECK(strstr(e.msg, "printable") != NULL);
	CHECK(strstr(e.msg, "X-Injected") == NULL);
	creds_chain_free(ch);

	env_reset();
	env_set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
	env_set("AWS_SECRET_ACCESS_KEY", "abc\ndef");
	ch = creds_chain_new(&fsys, &h);
	e.msg[0] = '\0';
	CHECK(creds_chain_get(ch, &c, &e) == -1);
	CHECK(strstr(e.msg, "secret key") != NULL && strstr(e.msg, "environment") != NULL);
	creds_chain_free(ch);

	env_reset();
	env_set("AWS_ACCESS_KEY_ID", "AKID\xc3\xa9");
	env_set("AWS_SECRET_ACCESS_KEY", "abcdef");
	ch = creds_chain_new(&fsys, &h);
	CHECK(creds_chain_get(ch, &c, &e) == -1);
	CHECK(strstr(e.msg, "access key") != NULL);
	creds_chain_free(ch);
}

/* The one JSON string reader and the one XML element reader every AWS
 * answer goes through (agent/answer.h): a missing, empty or non-string
 * value is NULL alike; entities and ASCII references are decoded, an
 * element that is not closed is not there. */
static void test_answer_readers(void)
{
	cJSON *o = cJSON_Parse("{\"a\":\"x\",\"e\":\"\",\"n\":1,\"b\":\"y\"}");
	CHECK_STR(json_str(o, "a"), "x");
	CHECK(json_str(o, "e") == NULL);
	CHECK(json_str(o, "n") == NULL);
	CHECK(json_str(o, "missing") == NULL);
	static const char *const keys[] = {"e", "n", "b", NULL};
	CHECK_STR(json_str_any(o, keys), "y");
	cJSON_Delete(o);
	CHECK(json_str(NULL, "a") == NULL);

	struct buf out = BUF_INIT;
	static const char xml[] = "<R><Code>A&amp;B&#x41;&#66;&#x20AC;</Code><Open>never closed</R>";
	CHECK(xml_text(span_of(xml, sizeof xml - 1), "Code", &out));
	CHECK_STR(buf_cstr(&out), "A&BAB&#x20AC;");
	CHECK(!xml_text(span_of(xml, sizeof xml - 1), "Open", &out));
	CHECK(out.len == 0);
	CHECK(!xml_text(span_of(xml, sizeof xml - 1), "Missing", &out));
	/* The span's end is the end, NUL or not. */
	CHECK(!xml_text(span_of(xml, 12), "Code", &out));
	buf_free(&out);
}

/* A profile the user named (AWS_PROFILE or --profile) that yields nothing is
 * refused, naming the profile and what it lacks: it never falls through to
 * other credentials. */
static void test_named_profile_never_falls_through(void)
{
	struct creds c = {0};
	struct err e;
	env_reset();
	env_set("AWS_CONFIG_FILE",
		write_file("config-named", "[profile typo]\nrolearn = arn:aws:iam::123456789012:role/x\n"
					   "source_profile = base\n"
					   "[profile misspelt]\ncredental_process = /bin/true\n"
					   "[profile emptyproc]\ncredential_process =\n"
					   "[profile quotes]\ncredential_process = \"\"\n"
					   "[profile ssonourl]\nsso_region = us-east-1\nsso_account_id = 123456789012\n"
					   "sso_role_name = R\n"
					   "[default]\nregion = us-east-1\n"));
	static const struct {
		const char *profile, *says;
	} named[] = {
	    {"typo", "the AWS profile \"typo\" has no credentials"},
	    {"misspelt", "the AWS profile \"misspelt\" has no credentials"},
	    {"emptyproc", "the AWS profile \"emptyproc\" has an empty credential_process"},
	    {"quotes", "credential_process names an empty program"},
	    {"ssonourl", "the AWS profile \"ssonourl\" uses SSO but has no sso_start_url"},
	    {"default", "the AWS profile \"default\" has no credentials"},
	};
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
		env_set("AWS_PROFILE", named[i].profile);
		enum creds_result res = fetch(&creds_profile_provider, &c, &e, NULL);
		CHECK(res == CREDS_FAILED);
		if (res != CREDS_FAILED || !strstr(e.msg, named[i].says))
			fprintf(stderr, "  %s: %s\n", named[i].profile, e.msg);
		CHECK(strstr(e.msg, named[i].says) != NULL);
		CHECK(c.access_key == NULL);
	}
	/* Not named: the default profile with only a region lets the chain go on. */
	env_set("AWS_PROFILE", NULL);
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_NOT_HERE);
}

/* "at most 10 links": ten source_profile steps are allowed, eleven are
 * refused, naming the profile asked for. */
static void test_chain_limit(void)
{
	struct creds c = {0};
	struct err e;
	struct buf conf = BUF_INIT;
	env_reset();
	buf_puts(&conf, "[profile p0]\naws_access_key_id = AKID\naws_secret_access_key = s\n");
	for (int i = 1; i <= 11; i++)
		buf_printf(&conf, "[profile p%d]\nrole_arn = arn:aws:iam::123456789012:role/r%d\nsource_profile = p%d\n",
			   i, i, i - 1);
	env_set("AWS_CONFIG_FILE", write_file("config-chain", conf.data));
	buf_free(&conf);
	env_set("AWS_PROFILE", "p10");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "source_profile steps") == NULL);
	env_set("AWS_PROFILE", "p11");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "the AWS profile \"p11\" is reached through more than 10 source_profile steps") != NULL);
}

/* A NUL escaped in the JSON would cut a key short: refused. */
static void test_process_nul_escape(void)
{
	struct creds c = {0};
	struct err e;
	CHECK(creds_process_parse(span_str("{\"Version\":1,\"AccessKeyId\":\"AKID\\u0000rest\",\"SecretAccessKey\":\"S\"}"),
				  &c, &e) == -1);
	CHECK(strstr(e.msg, "\\u0000") != NULL);
	CHECK(c.access_key == NULL);
	/* An escaped backslash followed by u0000 is text, not a NUL. */
	CHECK(creds_process_parse(span_str("{\"Version\":1,\"AccessKeyId\":\"A\\\\u0000\",\"SecretAccessKey\":\"S\"}"),
				  &c, &e) == 0);
	CHECK_STR(c.access_key, "A\\u0000");
	creds_clear(&c);
}

/* An Expiration already past is refused with the time named; a bad
 * SFN_AGENT_CREDENTIAL_PROCESS_TIMEOUT is refused with one sentence. */
static void test_process_expired_and_timeout(void)
{
	struct creds c = {0};
	struct err e;
	env_reset();
	char *script = write_file("proc-past.sh", "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"EXP\", "
						  "\"SecretAccessKey\": \"s\", \"Expiration\": \"2020-01-01T00:00:00Z\"}'\n");
	chmod(script, 0700);
	char conf[256];
	snprintf(conf, sizeof conf, "[profile past]\ncredential_process = %s\n", script);
	env_set("AWS_CONFIG_FILE", write_file("config-proc-past", conf));
	env_set("AWS_PROFILE", "past");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "expired at 2020-01-01T00:00:00Z") != NULL);
	CHECK(c.access_key == NULL);
	static const char *const bad[] = {"0", "abc", "1000", "-1", "2.5"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		env_set("SFN_AGENT_CREDENTIAL_PROCESS_TIMEOUT", bad[i]);
		CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
		char want[128];
		snprintf(want, sizeof want, "SFN_AGENT_CREDENTIAL_PROCESS_TIMEOUT='%s' is not valid: give whole seconds from 1 to 600", bad[i]);
		CHECK(strstr(e.msg, want) != NULL);
	}
}

/* The SSO cache: a CR/LF in accessToken would inject headers into
 * GetRoleCredentials, a \u0000 would cut it short; each fault of the cache
 * is named. */
static void test_sso_cache_checked(void)
{
	struct fake f = {.handler = sso_handler};
	struct http h = fake_http(&f);
	struct creds c = {0};
	struct err e;
	const char *cache = "/tmp/creds-unit/sso-home2/.aws/sso/cache/0ad374308c5a4e22f723adf10145eafad7c4031c.json";
	env_reset();
	env_set("HOME", "/tmp/creds-unit/sso-home2");
	mkdir("/tmp/creds-unit/sso-home2", 0700);
	mkdir("/tmp/creds-unit/sso-home2/.aws", 0700);
	mkdir("/tmp/creds-unit/sso-home2/.aws/sso", 0700);
	mkdir("/tmp/creds-unit/sso-home2/.aws/sso/cache", 0700);
	env_set("AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:9/");
	env_set("AWS_CONFIG_FILE",
		write_file("config-sso2", "[profile dev]\nsso_session = my-sso\nsso_account_id = 111122223333\n"
					  "sso_role_name = R\n[sso-session my-sso]\nsso_start_url = https://x.awsapps.com/start\n"
					  "sso_region = eu-west-1\n"));
	env_set("AWS_PROFILE", "dev");
	char later[64];
	iso(fake_now + 3600 * 1000, later, sizeof later);
	static const struct {
		const char *fmt, *says;
	} bad[] = {
	    {"{\"accessToken\":\"TOK\\r\\nX-Injected: 1\",\"expiresAt\":\"%s\"}", "outside printable ASCII (0x0d"},
	    {"{\"accessToken\":\"TOK\\u0000X\",\"expiresAt\":\"%s\"}", "\\u0000"},
	    {"not json %s", "is not JSON"},
	    {"{\"expiresAt\":\"%s\"}", "has no accessToken"},
	    {"{\"accessToken\":\"TOK\",\"expiresAt\":\"soon%s\"}", "expiresAt that is not a time"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		FILE *fp = fopen(cache, "w");
		CHECK(fp != NULL);
		if (!fp)
			return;
		/* The format has one %s, for expiresAt. */
		const char *mark = strstr(bad[i].fmt, "%s");
		fprintf(fp, "%.*s%s%s", (int)(mark - bad[i].fmt), bad[i].fmt, later, mark + 2);
		fclose(fp);
		f.n = 0;
		enum creds_result res = fetch(&creds_profile_provider, &c, &e, &h);
		CHECK(res == CREDS_FAILED);
		if (res != CREDS_FAILED || !strstr(e.msg, bad[i].says))
			fprintf(stderr, "  case %zu: %s\n", i, e.msg);
		CHECK(strstr(e.msg, bad[i].says) != NULL);
		CHECK(f.n == 0);
	}
}

/* A shared file that is a FIFO (or a directory) is refused at once, not
 * waited on; a bad byte in a profile's keys names the profile. */
static void test_profile_file_checks(void)
{
	struct creds c = {0};
	struct err e;
	env_reset();
	unlink("/tmp/creds-unit/config-fifo");
	CHECK(mkfifo("/tmp/creds-unit/config-fifo", 0600) == 0);
	env_set("AWS_CONFIG_FILE", "/tmp/creds-unit/config-fifo");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "/tmp/creds-unit/config-fifo is not a regular file") != NULL);
	unlink("/tmp/creds-unit/config-fifo");
	env_set("AWS_CONFIG_FILE", write_file("config-badbyte", "[profile odd]\naws_access_key_id = AK\x01X\n"
								"aws_secret_access_key = s\n"));
	env_set("AWS_PROFILE", "odd");
	CHECK(fetch(&creds_profile_provider, &c, &e, NULL) == CREDS_FAILED);
	CHECK(strstr(e.msg, "the AWS profile \"odd\"") != NULL);
}

/* A credential_process that answers and exits but leaves a child holding
 * its stdout is done when it exits (plus a short grace), not when the
 * child lets go. */
static void test_process_child_holds_stdout(void)
{
	struct creds c = {0};
	struct err e;
	env_reset();
	unlink("/tmp/creds-unit/proc-child.pid");
	unlink("/tmp/creds-unit/proc-child.done");
	/* The child lets go of stdout after 20 s, leaving a mark: the fetch
	 * must have returned long before. */
	char *script = write_file("proc-child.sh", "#!/bin/sh\n(sleep 20; touch /tmp/creds-unit/proc-child.done) 2>/dev/null &\n"
						   "echo $! > /tmp/creds-unit/proc-child.pid\n"
						   "echo '{\"Version\": 1, \"AccessKeyId\": \"KID\", \"SecretAccessKey\": \"s\"}'\n");
	chmod(script, 0700);
	char conf[256];
	snprintf(conf, sizeof conf, "[profile child]\ncredential_process = %s\n", script);
	env_set("AWS_CONFIG_FILE", write_file("config-proc-child", conf));
	env_set("AWS_PROFILE", "child");
	env_set("SFN_AGENT_CREDENTIAL_PROCESS_TIMEOUT", "3");
	enum creds_result res = fetch(&creds_profile_provider, &c, &e, NULL);
	if (res != CREDS_OK)
		fprintf(stderr, "  %s\n", e.msg);
	CHECK(res == CREDS_OK);
	CHECK(c.access_key && strcmp(c.access_key, "KID") == 0);
	CHECK(access("/tmp/creds-unit/proc-child.done", F_OK) != 0);
	creds_clear(&c);
	struct buf pid = BUF_INIT;
	if (creds_read_file("/tmp/creds-unit/proc-child.pid", 64, &pid, &e) == 0 && atoi(buf_cstr(&pid)) > 0)
		kill(-atoi(buf_cstr(&pid)), SIGKILL), kill(atoi(buf_cstr(&pid)), SIGKILL);
	buf_free(&pid);
}

int main(void)
{
	if (mkdir("/tmp/creds-unit", 0700) != 0 && access("/tmp/creds-unit", W_OK) != 0) {
		perror("/tmp/creds-unit");
		return 2;
	}
	snprintf(empty_home, sizeof empty_home, "/tmp/creds-unit/empty-home");
	if (mkdir(empty_home, 0700) != 0 && access(empty_home, W_OK) != 0) {
		perror(empty_home);
		return 2;
	}
	RUN(test_env_complete);
	RUN(test_env_partial);
	RUN(test_ini);
	RUN(test_profile_precedence);
	RUN(test_profile_missing);
	RUN(test_ecs_allow_list);
	RUN(test_creds_json);
	RUN(test_iso8601);
	RUN(test_ecs_token);
	RUN(test_chain_refresh);
	RUN(test_chain_refresh_fails);
	RUN(test_chain_order);
	RUN(test_sts_xml);
	RUN(test_web_identity);
	RUN(test_imds);
	RUN(test_region);
	RUN(test_fuzz_sts_empty_elements);
	RUN(test_assume_role);
	RUN(test_assume_role_from_container);
	RUN(test_process_split);
	RUN(test_process_parse);
	RUN(test_process_run);
	RUN(test_process_expiration);
	RUN(test_printable);
	RUN(test_sso);
	RUN(test_explicit_profile);
	RUN(test_ecs_echo_redacts_token);
	RUN(test_creds_printable_only);
	RUN(test_answer_readers);
	RUN(test_named_profile_never_falls_through);
	RUN(test_chain_limit);
	RUN(test_process_nul_escape);
	RUN(test_process_expired_and_timeout);
	RUN(test_sso_cache_checked);
	RUN(test_profile_file_checks);
	RUN(test_process_child_holds_stdout);
	return CHECK_DONE();
}
