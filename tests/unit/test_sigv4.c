/* SigV4 against signatures computed by botocore (tests/unit/sigv4_vectors.py):
 * the expected values come from AWS's own signer, not from our code. */
#include "agent/sigv4.h"
#include "check.h"

struct vector {
	const char *name, *host, *region, *service, *target, *content_type, *body;
	int with_token;
	const char *amz_date, *authorization;
};

#define VEC_WALL_MS 1795264496000LL
#define VEC_AK "AKIDEXAMPLE"
#define VEC_SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define VEC_TOKEN "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+token=="
static const struct vector vectors[] = {
	{ "states_no_token", "states.us-east-1.amazonaws.com", "us-east-1", "states", "AWSStepFunctions.SendTaskHeartbeat", "application/x-amz-json-1.0", "{\"taskToken\":\"abc\"}", 0, "20261121T123456Z", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/us-east-1/states/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=d4e5ae5e48a885561fc743b1e2fa10f47f9d3190931852f88bf9fa87d8c6381b" },
	{ "states_token", "states.eu-west-1.amazonaws.com", "eu-west-1", "states", "AWSStepFunctions.SendTaskSuccess", "application/x-amz-json-1.0", "{\"taskToken\":\"abc\",\"output\":\"{\\\"a\\\":1}\"}", 1, "20261121T123456Z", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/eu-west-1/states/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=c656c29fa0ce1a4b239a1b75c18ef5c21a2183e321437aa4b25227911424c868" },
	{ "port_no_token", "127.0.0.1:5000", "us-east-1", "states", "AWSStepFunctions.SendTaskFailure", "application/x-amz-json-1.0", "{\"taskToken\":\"t\",\"error\":\"ScriptFailed\",\"cause\":\"{}\"}", 0, "20261121T123456Z", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/us-east-1/states/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=230273dd8b72f76bbace29957e071b1b8e9330526a9d966a3d7f93c985358215" },
	{ "port_token", "localhost:4566", "cn-north-1", "states", "AWSStepFunctions.DescribeExecution", "application/x-amz-json-1.0", "{\"executionArn\":\"arn:aws-cn:states:cn-north-1:123456789012:execution:m:e\"}", 1, "20261121T123456Z", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/cn-north-1/states/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=07aaad6152b942580eeeb9d1259efe41889cda83eb95b444c129e8a8ed2c191e" },
	{ "empty_body", "states.us-west-2.amazonaws.com", "us-west-2", "states", "AWSStepFunctions.ListStateMachines", "application/x-amz-json-1.0", "", 0, "20261121T123456Z", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/us-west-2/states/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=09b5bb78283a03a813730b03c2ece7a7ddff7a7a3d8dfcc9de134600a73a9966" },
	{ "sts_form", "sts.us-east-1.amazonaws.com", "us-east-1", "sts", NULL, "application/x-www-form-urlencoded; charset=utf-8", "Action=AssumeRoleWithWebIdentity&Version=2011-06-15", 0, "20261121T123456Z", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=81a261a5c96aa62a2af37436690c74c79615069b933ee490d37e099f82da8b07" },
};

static void sign(const struct vector *v, int64_t wall_ms, const char *secret, char amz_date[17],
		 struct buf *auth)
{
	struct creds c = { VEC_AK, (char *)secret, v->with_token ? VEC_TOKEN : NULL, 0 };
	struct sigv4_input in = {
		.method = "POST",
		.host = v->host,
		.path = "/",
		.query = "",
		.region = v->region,
		.service = v->service,
		.amz_target = v->target,
		.content_type = v->content_type,
		.payload = span_str(v->body),
		.wall_ms = wall_ms,
	};
	sigv4_sign(&in, &c, amz_date, auth);
}

static void test_botocore_vectors(void)
{
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		char amz_date[17];
		struct buf auth = BUF_INIT;
		sign(&vectors[i], VEC_WALL_MS, VEC_SK, amz_date, &auth);
		int before = check_case_failed;
		check_case_failed = 0;
		CHECK_STR(amz_date, vectors[i].amz_date);
		CHECK_STR(buf_cstr(&auth), vectors[i].authorization);
		if (check_case_failed)
			fprintf(stderr, "  (vector %s)\n", vectors[i].name);
		check_case_failed |= before;
		buf_free(&auth);
	}
}

/* The milliseconds are dropped, as in X-Amz-Date. */
static void test_milliseconds_ignored(void)
{
	char amz_date[17];
	struct buf auth = BUF_INIT;
	sign(&vectors[0], VEC_WALL_MS + 999, VEC_SK, amz_date, &auth);
	CHECK_STR(buf_cstr(&auth), vectors[0].authorization);
	buf_free(&auth);
}

/* Each input matters: another second, secret or body changes the signature. */
static void test_inputs_change_signature(void)
{
	char amz_date[17];
	struct buf auth = BUF_INIT;
	sign(&vectors[0], VEC_WALL_MS + 1000, VEC_SK, amz_date, &auth);
	CHECK_STR(amz_date, "20261121T123457Z");
	CHECK(strcmp(buf_cstr(&auth), vectors[0].authorization) != 0);

	sign(&vectors[0], VEC_WALL_MS, "another-secret", amz_date, &auth);
	CHECK(strcmp(buf_cstr(&auth), vectors[0].authorization) != 0);

	struct vector v = vectors[0];
	v.body = "{\"taskToken\":\"abd\"}";
	sign(&v, VEC_WALL_MS, VEC_SK, amz_date, &auth);
	CHECK(strcmp(buf_cstr(&auth), vectors[0].authorization) != 0);
	buf_free(&auth);
}

/* An empty session token is no token (some environments export it empty). */
static void test_empty_session_token(void)
{
	char amz_date[17];
	struct buf auth = BUF_INIT;
	struct creds c = { VEC_AK, VEC_SK, "", 0 };
	struct sigv4_input in = { "POST", vectors[0].host, "/", "", vectors[0].region, vectors[0].service,
				  vectors[0].target, vectors[0].content_type, span_str(vectors[0].body),
				  VEC_WALL_MS };
	sigv4_sign(&in, &c, amz_date, &auth);
	CHECK_STR(buf_cstr(&auth), vectors[0].authorization);
	buf_free(&auth);
}

int main(void)
{
	RUN(test_botocore_vectors);
	RUN(test_milliseconds_ignored);
	RUN(test_inputs_change_signature);
	RUN(test_empty_session_token);
	return CHECK_DONE();
}
