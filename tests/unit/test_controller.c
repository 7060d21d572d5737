/* The pure parts of the controller: ARNs, execution names, seconds, the
 * task ARN in a RunTask output, and what a history page tells. */
#include "agent/arn.h"
#include "src/cli.h"
#include "check.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static void test_arn_parse(void)
{
	struct arn a;
	struct err err = { "" };
	CHECK(arn_parse("arn:aws:states:us-east-1:123456789012:stateMachine:Flow", &a, &err) == 0);
	CHECK_STR(a.partition, "aws");
	CHECK_STR(a.service, "states");
	CHECK_STR(a.region, "us-east-1");
	CHECK_STR(a.account, "123456789012");
	CHECK_STR(a.resource, "stateMachine:Flow");
	CHECK(arn_parse("arn:aws:iam::123456789012:role/path/r", &a, &err) == 0);
	CHECK_STR(a.region, "");
	CHECK_STR(a.resource, "role/path/r");
	CHECK(arn_parse("arn:aws-cn:states:cn-north-1:123456789012:stateMachine:F", &a, &err) == 0);
	CHECK_STR(a.partition, "aws-cn");

	static const char *const bad[] = { "", "arn", "arn:aws", "arn:aws:states", "arn:aws:states:r:a",
					   "arn::states:r:a:x", "arn:aws::r:a:x", "arn:aws:states:r:a:",
					   "nope:aws:states:r:a:x", "arn:aws:states:us-east-1:1:stateMachine:a b" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err.msg[0] = '\0';
		CHECK(arn_parse(bad[i], &a, &err) == -1);
		CHECK(err.msg[0] != '\0');
	}
}

static void test_arn_state_machine(void)
{
	struct arn a;
	struct err err = { "" };
	CHECK(arn_parse_state_machine("arn:aws:states:eu-west-1:123456789012:stateMachine:F", "--sm", &a, &err) == 0);
	CHECK_STR(a.region, "eu-west-1");
	/* Versions and aliases are state machine ARNs too. */
	CHECK(arn_parse_state_machine("arn:aws:states:eu-west-1:123456789012:stateMachine:F:prod", "--sm", &a,
				      &err) == 0);
	CHECK(arn_parse_state_machine("arn:aws:states:eu-west-1:123456789012:execution:F:x", "--sm", &a, &err) == -1);
	CHECK(strstr(err.msg, "execution ARN") != NULL);
	CHECK(strstr(err.msg, "--sm") != NULL);
	CHECK(arn_parse_state_machine("arn:aws:lambda:eu-west-1:123456789012:function:F", "--sm", &a, &err) == -1);
	CHECK(arn_parse_state_machine("arn:aws:states::123456789012:stateMachine:F", "--sm", &a, &err) == -1);
	CHECK(strstr(err.msg, "region") != NULL);
	CHECK(arn_parse_state_machine("arn:aws:states:eu-west-1:12345:stateMachine:F", "--sm", &a, &err) == -1);
	CHECK(strstr(err.msg, "account") != NULL);
	CHECK(arn_parse_state_machine("arn:aws:states:eu-west-1:123456789012:stateMachine:", "--sm", &a, &err) == -1);
	CHECK(arn_parse_state_machine("Flow", "--sm", &a, &err) == -1);
}

static void test_execution_names(void)
{
	struct err err = { "" };
	char eighty[81], eighty_one[82];
	memset(eighty, 'a', 80);
	eighty[80] = '\0';
	memset(eighty_one, 'a', 81);
	eighty_one[81] = '\0';
	static const char *const good[] = { "a", "my-run_1", "Run.2024-01-01T00-00", "caf\xc3\xa9", "\xe6\x97\xa5" };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		if (ctl_execution_name_validate(good[i], &err) != 0)
			fprintf(stderr, "  refused %s: %s\n", good[i], err.msg);
		CHECK(ctl_execution_name_validate(good[i], &err) == 0);
	}
	CHECK(ctl_execution_name_validate(eighty, &err) == 0);
	CHECK(ctl_execution_name_validate(eighty_one, &err) == -1);
	CHECK(strstr(err.msg, "80") != NULL);
	/* 80 characters of 2 bytes each: characters count, not bytes. */
	char wide[161];
	for (int i = 0; i < 80; i++)
		memcpy(wide + 2 * i, "\xc3\xa9", 2);
	wide[160] = '\0';
	CHECK(ctl_execution_name_validate(wide, &err) == 0);

	static const char *const bad[] = { "",   "a b",	 "a\tb", "a\nb", "a<b", "a>b", "a{b", "a}b", "a[b",
					   "a]b", "a?b", "a*b", "a\"b", "a#b", "a%b", "a\\b", "a^b", "a|b",
					   "a~b", "a`b", "a$b", "a&b", "a,b", "a;b", "a:b", "a/b", "a\x7f",
					   "a\x01", "a\xc2\x85", "a\xc2\xa0", "a\xff" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err.msg[0] = '\0';
		if (ctl_execution_name_validate(bad[i], &err) != -1)
			fprintf(stderr, "  accepted bad name #%zu\n", i);
		CHECK(ctl_execution_name_validate(bad[i], &err) == -1);
		CHECK(strstr(err.msg, "--name") != NULL);
	}
}

static void test_generated_names(void)
{
	char a[64], b[64];
	struct err err = { "" };
	/* 2026-11-21 12:34:56 UTC */
	ctl_execution_name_generate(1795264496000LL, 0x0123456789abcdefULL, a);
	CHECK_STR(a, "sfn-agent-20261121T123456Z-0123456789abcdef");
	CHECK(ctl_execution_name_validate(a, &err) == 0);
	ctl_execution_name_generate(1795264496000LL, 0x0123456789abcdeeULL, b);
	CHECK(strcmp(a, b) != 0);
}

static void test_seconds(void)
{
	double v = -1;
	CHECK(ctl_parse_seconds("1", 0.1, 10, &v) == 0 && v == 1);
	CHECK(ctl_parse_seconds("0.2", 0.1, 10, &v) == 0 && v > 0.19 && v < 0.21);
	CHECK(ctl_parse_seconds("0.05", 0.1, 10, &v) == -1);
	CHECK(ctl_parse_seconds("11", 0.1, 10, &v) == -1);
	CHECK(ctl_parse_seconds("", 0, 10, &v) == -1);
	CHECK(ctl_parse_seconds("5s", 0, 10, &v) == -1);
	CHECK(ctl_parse_seconds("nan", 0, 10, &v) == -1);
	CHECK(ctl_parse_seconds("inf", 0, 1e9, &v) == -1);
	CHECK(ctl_parse_seconds("-1", 0, 10, &v) == -1);
}

static void test_task_arn_in(void)
{
	static const char arn[] = "arn:aws:ecs:us-east-1:123456789012:task/lab/0123456789abcdef";
	char *got;
	/* Step Functions' own shape (PascalCase) and the ECS API's (camelCase). */
	got = ctl_task_arn_in("{\"Tasks\":[{\"TaskArn\":\"arn:aws:ecs:us-east-1:123456789012:task/lab/0123456789abcdef\","
			      "\"LastStatus\":\"PROVISIONING\"}],\"Failures\":[]}");
	CHECK_STR(got, arn);
	free(got);
	got = ctl_task_arn_in("{\"tasks\":[{\"taskArn\":\"arn:aws:ecs:us-east-1:123456789012:task/lab/0123456789abcdef\"}]}");
	CHECK_STR(got, arn);
	free(got);
	/* Any other shape: the first task ARN in the text; cluster ARNs are not tasks. */
	got = ctl_task_arn_in("{\"x\":{\"cluster\":\"arn:aws:ecs:us-east-1:123456789012:cluster/lab\","
			      "\"id\":\"arn:aws:ecs:us-east-1:123456789012:task/lab/0123456789abcdef\"}}");
	CHECK_STR(got, arn);
	free(got);
	CHECK(ctl_task_arn_in("{\"Tasks\":[]}") == NULL);
	CHECK(ctl_task_arn_in("not json at all") == NULL);
	CHECK(ctl_task_arn_in(NULL) == NULL);
}

static void test_history_scan(void)
{
	/* reverseOrder=true: newest first. */
	static const char page[] =
		"{\"events\":["
		"{\"id\":9,\"type\":\"ExecutionFailed\",\"executionFailedEventDetails\":{\"error\":\"ScriptFailed\","
		"\"cause\":\"{\\\"exitCode\\\":3}\"}},"
		"{\"id\":8,\"type\":\"TaskFailed\",\"taskFailedEventDetails\":{\"error\":\"Older\",\"cause\":\"x\"}},"
		"{\"id\":7,\"type\":\"TaskSubmitted\",\"taskSubmittedEventDetails\":{\"resourceType\":\"ecs\","
		"\"output\":\"{\\\"Tasks\\\":[{\\\"TaskArn\\\":\\\"arn:aws:ecs:r:1:task/c/new\\\"}]}\"}},"
		"{\"id\":6,\"type\":\"TaskStateEntered\",\"stateEnteredEventDetails\":{\"name\":\"RunTask\"}},"
		"{\"id\":3,\"type\":\"TaskSubmitted\",\"taskSubmittedEventDetails\":{"
		"\"output\":\"{\\\"Tasks\\\":[{\\\"TaskArn\\\":\\\"arn:aws:ecs:r:1:task/c/old\\\"}]}\"}},"
		"{\"id\":2,\"type\":\"ChoiceStateEntered\",\"stateEnteredEventDetails\":{\"name\":\"HasCommands\"}}"
		"]}";
	struct ctl_history h;
	CHECK(ctl_history_scan(page, strlen(page), &h) == 0);
	CHECK(h.newest_id == 9);
	CHECK_STR(h.state, "RunTask");
	CHECK(h.n_task_arns == 2);
	if (h.n_task_arns == 2) {
		CHECK_STR(h.task_arns[0], "arn:aws:ecs:r:1:task/c/new");
		CHECK_STR(h.task_arns[1], "arn:aws:ecs:r:1:task/c/old");
	}
	CHECK_STR(h.error, "ScriptFailed");
	CHECK_STR(h.cause, "{\"exitCode\":3}");
	ctl_history_free(&h);
	CHECK(h.state == NULL && h.task_arns == NULL);

	/* The same page oldest first (a server that ignores reverseOrder): same answers. */
	static const char ascending[] =
		"{\"events\":["
		"{\"id\":2,\"type\":\"ChoiceStateEntered\",\"stateEnteredEventDetails\":{\"name\":\"HasCommands\"}},"
		"{\"id\":3,\"type\":\"TaskSubmitted\",\"taskSubmittedEventDetails\":{"
		"\"output\":\"{\\\"Tasks\\\":[{\\\"TaskArn\\\":\\\"arn:aws:ecs:r:1:task/c/old\\\"}]}\"}},"
		"{\"id\":6,\"type\":\"TaskStateEntered\",\"stateEnteredEventDetails\":{\"name\":\"RunTask\"}},"
		"{\"id\":7,\"type\":\"TaskSubmitted\",\"taskSubmittedEventDetails\":{"
		"\"output\":\"{\\\"Tasks\\\":[{\\\"TaskArn\\\":\\\"arn:aws:ecs:r:1:task/c/new\\\"}]}\"}},"
		"{\"id\":8,\"type\":\"TaskFailed\",\"taskFailedEventDetails\":{\"error\":\"Older\",\"cause\":\"x\"}},"
		"{\"id\":9,\"type\":\"ExecutionFailed\",\"executionFailedEventDetails\":{\"error\":\"ScriptFailed\"}}"
		"]}";
	CHECK(ctl_history_scan(ascending, strlen(ascending), &h) == 0);
	CHECK(h.newest_id == 9);
	CHECK_STR(h.state, "RunTask");
	CHECK(h.n_task_arns == 2);
	if (h.n_task_arns == 2) {
		CHECK_STR(h.task_arns[0], "arn:aws:ecs:r:1:task/c/new");
		CHECK_STR(h.task_arns[1], "arn:aws:ecs:r:1:task/c/old");
	}
	CHECK_STR(h.error, "ScriptFailed");
	CHECK(h.cause == NULL);
	ctl_history_free(&h);

	static const char empty[] = "{\"events\":[]}";
	CHECK(ctl_history_scan(empty, strlen(empty), &h) == 0);
	CHECK(h.newest_id == 0 && h.state == NULL && h.n_task_arns == 0 && h.error == NULL);
	ctl_history_free(&h);
	CHECK(ctl_history_scan("{}", 2, &h) == -1);
	CHECK(ctl_history_scan("<xml/>", 6, &h) == -1);
}

static void test_elapsed(void)
{
	char s[32];
	ctl_format_elapsed(0, s);
	CHECK_STR(s, "0.0s");
	ctl_format_elapsed(12345, s);
	CHECK_STR(s, "12.3s");
	ctl_format_elapsed(65000, s);
	CHECK_STR(s, "1m05s");
	ctl_format_elapsed(3600000 + 2 * 60000 + 3000, s);
	CHECK_STR(s, "1h02m03s");
	ctl_format_elapsed(-5, s);
	CHECK_STR(s, "0.0s");
}

/* ---- regression tests from fuzzing (tests/fuzz/fuzz_controller.c) ---- */

/* An event id beyond long long (or negative) reads as 0, not as undefined
 * behaviour (UBSan in `make asan`); the ordinary ids still count. */
static void test_fuzz_history_huge_id(void)
{
	static const char page[] = "{\"events\":[{\"id\":4.8e82,\"type\":\"TaskStateEntered\","
				   "\"stateEnteredEventDetails\":{\"name\":\"Huge\"}},{\"id\":-1e30},"
				   "{\"id\":7,\"type\":\"PassStateEntered\",\"stateEnteredEventDetails\":"
				   "{\"name\":\"Seven\"}}]}";
	struct ctl_history h;
	CHECK(ctl_history_scan(page, strlen(page), &h) == 0);
	CHECK(h.newest_id == 7);
	CHECK_STR(h.state, "Seven");
	ctl_history_free(&h);
}

/* ---- start's polling, on a fake clock ---- */

static int64_t clock_ms; /* the fake monotonic clock; sleeping moves it */
static int64_t fake_mono(void) { return clock_ms; }
static int64_t fake_wall(void) { return 1764547200000 + clock_ms; }
static uint32_t fake_random(void) { return 0; } /* no jitter: the schedule is exact */
static void fake_sleep(int64_t ms) { clock_ms += ms; }
static const char *fake_getenv(const char *name)
{
	static const char *const env[][2] = {
		{ "AWS_REGION", "us-east-1" }, { "AWS_ACCESS_KEY_ID", "AKIDFAKE" },
		{ "AWS_SECRET_ACCESS_KEY", "secret" }, { "AWS_ENDPOINT_URL", "http://127.0.0.1:9" },
		{ "AWS_EC2_METADATA_DISABLED", "true" },
	};
	for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
		if (strcmp(name, env[i][0]) == 0)
			return env[i][1];
	return NULL;
}
static const struct sys fake_sys = { fake_getenv, fake_mono, fake_wall, fake_random, fake_sleep };

static int64_t describe_at[64]; /* fake time of each DescribeExecution */
static int n_describe;
static int running_polls;       /* DescribeExecution says RUNNING this many times, then SUCCEEDED */

static int fake_perform(void *impl, const struct http_request *req, struct http_response *resp)
{
	(void)impl;
	const char *target = "";
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcmp(req->headers[i].name, "X-Amz-Target") == 0)
			target = req->headers[i].value;
	resp->failure = HTTP_OK;
	resp->status = 200;
	if (strstr(target, ".DescribeExecution")) {
		if (n_describe < 64)
			describe_at[n_describe] = clock_ms;
		bool running = n_describe++ < running_polls;
		buf_puts(&resp->body, running ? "{\"status\":\"RUNNING\"}" : "{\"status\":\"SUCCEEDED\",\"output\":\"{}\"}");
	} else {
		buf_puts(&resp->body, "{\"events\":[]}");
	}
	clock_ms += 10; /* each exchange takes 10 ms */
	return 0;
}
static void fake_http_free(void *impl) { (void)impl; }
static const struct http_ops fake_http = { fake_perform, fake_http_free };

static int wait_on_fake_clock(int64_t poll_ms, int64_t timeout_ms)
{
	clock_ms = 0;
	n_describe = 0;
	struct sfn_client_config cfg = { .sys = &fake_sys };
	struct err err = { "" };
	struct sfn_client *c = sfn_client_new_with_http(&cfg, (struct http){ &fake_http, NULL }, &err);
	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "  %s\n", err.msg);
		return -1;
	}
	/* The output goes to stdout, where the PASS lines go: elsewhere. */
	fflush(stdout);
	int saved = dup(STDOUT_FILENO), null = open("/dev/null", O_WRONLY);
	dup2(null, STDOUT_FILENO);
	struct ctl_start_wait_config w = { &fake_sys, c, "arn:aws:states:us-east-1:123456789012:execution:m:e",
					   poll_ms, timeout_ms };
	int rc = ctl_start_wait(&w);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(null);
	sfn_client_free(c);
	return rc;
}

/* --poll is the first interval; with nothing changing it grows by half up to
 * 5 s; the status changing brings it back.  All on the fake clock: the test
 * takes no time. */
static void test_start_polls_back_off_on_fake_clock(void)
{
	running_polls = 8;
	CHECK(wait_on_fake_clock(1000, 0) == CTL_OK);
	CHECK(n_describe == 9);
	/* Gaps between DescribeExecution calls, less the 20 ms two calls take. */
	static const int64_t want[] = { 1000, 1500, 2250, 3375, 5000, 5000, 5000, 5000 };
	for (int i = 1; i < n_describe && i <= 8; i++) {
		int64_t gap = describe_at[i] - describe_at[i - 1] - 20;
		if (gap != want[i - 1])
			fprintf(stderr, "  gap %d: %lld ms, want %lld\n", i, (long long)gap, (long long)want[i - 1]);
		CHECK(gap == want[i - 1]);
	}
}

/* --timeout ends the wait when the fake clock says so, not a poll later. */
static void test_start_timeout_on_fake_clock(void)
{
	running_polls = 1000;
	CHECK(wait_on_fake_clock(1000, 30000) == CTL_TIMEOUT);
	CHECK(clock_ms >= 30000 && clock_ms < 30000 + 100);
	CHECK(n_describe >= 2 && n_describe <= 12);
}

int main(void)
{
	RUN(test_arn_parse);
	RUN(test_arn_state_machine);
	RUN(test_execution_names);
	RUN(test_generated_names);
	RUN(test_seconds);
	RUN(test_task_arn_in);
	RUN(test_history_scan);
	RUN(test_fuzz_history_huge_id);
	RUN(test_elapsed);
	RUN(test_start_polls_back_off_on_fake_clock);
	RUN(test_start_timeout_on_fake_clock);
	return CHECK_DONE();
}
