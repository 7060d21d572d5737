/* asl_check: every finding, a clean definition, nesting, JSONata, and the
 * output of `template` (which must pass with no findings). */
#include "agent/asl/asl.h"
#include "agent/asl/template.h"
#include "check.h"

#include <stdbool.h>
#include <stdlib.h>

#define RES "\"Resource\": \"arn:aws:states:::ecs:runTask.waitForTaskToken\""
#define TOKEN_ENV "\"Environment\": [{\"Name\": \"TASK_TOKEN\", \"Value.$\": \"$$.Task.Token\"}]"
#define OVERRIDES "\"Overrides\": {\"ContainerOverrides\": [{\"Name\": \"app\", " TOKEN_ENV "}]}"
#define NET "\"NetworkConfiguration\": {\"AwsvpcConfiguration\": {\"Subnets\": [\"subnet-1\"]}}"
#define RETRY "\"Retry\": [{\"ErrorEquals\": [\"ContainerStopped\"], \"MaxAttempts\": 2}]"
#define CATCH "\"Catch\": [{\"ErrorEquals\": [\"States.ALL\"], \"Next\": \"Fail\"}]"
#define FAIL_STATE "\"Fail\": {\"Type\": \"Fail\"}"

/* A correct Task; each test takes one piece away. */
#define GOOD_TASK                                                                                   \
	"{\"Type\": \"Task\", " RES ", \"Parameters\": {\"LaunchType\": \"FARGATE\", \"Cluster\": \"c\", " \
	"\"TaskDefinition\": \"td\", " NET ", " OVERRIDES "}, \"HeartbeatSeconds\": 300, "            \
	"\"TimeoutSeconds\": 3600, " RETRY ", " CATCH ", \"End\": true}"

static const char good[] = "{\"StartAt\": \"Run\", \"States\": {\"Run\": " GOOD_TASK ", " FAIL_STATE "}}";

static struct asl_report run(const char *def, const struct asl_options *opt)
{
	struct asl_report r;
	struct err err = { "" };
	int rc = asl_check(def, strlen(def), opt, &r, &err);
	if (rc != 0)
		fprintf(stderr, "  asl_check: %s\n", err.msg);
	CHECK(rc == 0);
	return r;
}

/* Exactly one finding, of this kind, on this state, whose text contains want. */
static void expect_one(const char *def, enum asl_problem p, const char *state, const char *want)
{
	struct asl_report r = run(def, NULL);
	CHECK(r.n == 1);
	if (r.n != 1) {
		for (size_t i = 0; i < r.n; i++)
			fprintf(stderr, "  finding: %s\n", r.findings[i].text);
	} else {
		CHECK(r.findings[0].problem == p);
		CHECK_STR(r.findings[0].state, state);
		CHECK(strncmp(r.findings[0].text, state, strlen(state)) == 0);
		if (!strstr(r.findings[0].text, want))
			fprintf(stderr, "  \"%s\" not in: %s\n", want, r.findings[0].text);
		CHECK(strstr(r.findings[0].text, want) != NULL);
		CHECK(strstr(r.findings[0].text, "; add ") != NULL);
	}
	asl_report_free(&r);
}

/* Replaces the first occurrence of from in good with to. */
static char *variant(const char *from, const char *to)
{
	const char *at = strstr(good, from);
	if (!at) {
		fprintf(stderr, "  variant: \"%s\" not in the good definition\n", from);
		abort();
	}
	size_t n = strlen(good) - strlen(from) + strlen(to) + 1;
	char *s = malloc(n);
	snprintf(s, n, "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
	return s;
}

static void test_clean(void)
{
	struct asl_report r = run(good, NULL);
	CHECK(r.n == 0);
	CHECK(r.tasks == 1);
	asl_report_free(&r);
}

static void test_no_timeout(void)
{
	char *d = variant("\"TimeoutSeconds\": 3600, ", "");
	expect_one(d, ASL_NO_TIMEOUT, "Run", "\"TimeoutSeconds\": 3600");
	free(d);
	/* A path counts. */
	d = variant("\"TimeoutSeconds\": 3600", "\"TimeoutSecondsPath\": \"$.timeout\"");
	struct asl_report r = run(d, NULL);
	CHECK(r.n == 0);
	asl_report_free(&r);
	free(d);
}

static void test_no_heartbeat(void)
{
	char *d = variant("\"HeartbeatSeconds\": 300, ", "");
	expect_one(d, ASL_NO_HEARTBEAT, "Run", "\"HeartbeatSeconds\": 300");
	free(d);
	d = variant("\"HeartbeatSeconds\": 300", "\"HeartbeatSecondsPath\": \"$.hb\"");
	struct asl_report r = run(d, NULL);
	CHECK(r.n == 0);
	asl_report_free(&r);
	free(d);
}

static void test_short_heartbeat(void)
{
	char *d = variant("\"HeartbeatSeconds\": 300", "\"HeartbeatSeconds\": 60");
	expect_one(d, ASL_SHORT_HEARTBEAT, "Run", "--heartbeat 20");
	/* The same state is fine for an agent that beats every 20 s. */
	struct asl_options opt = { 20, "TASK_TOKEN" };
	struct asl_report r = run(d, &opt);
	CHECK(r.n == 0);
	asl_report_free(&r);
	free(d);
	/* Heartbeats off: any HeartbeatSeconds is a finding, none is not. */
	struct asl_options off = { 0, "TASK_TOKEN" };
	r = run(good, &off);
	CHECK(r.n == 1 && r.findings[0].problem == ASL_SHORT_HEARTBEAT);
	CHECK(r.n == 1 && strstr(r.findings[0].text, "SFN_AGENT_HEARTBEAT=60") != NULL);
	asl_report_free(&r);
	d = variant("\"HeartbeatSeconds\": 300, ", "");
	r = run(d, &off);
	CHECK(r.n == 0);
	asl_report_free(&r);
	free(d);
	/* Too short for any agent heartbeat: only raising it helps. */
	d = variant("\"HeartbeatSeconds\": 300", "\"HeartbeatSeconds\": 2");
	expect_one(d, ASL_SHORT_HEARTBEAT, "Run", "\"HeartbeatSeconds\": 300 instead");
	r = run(d, NULL);
	CHECK(r.n == 1 && strstr(r.findings[0].text, "--heartbeat") == NULL);
	asl_report_free(&r);
	free(d);
	d = variant("\"HeartbeatSeconds\": 300", "\"HeartbeatSeconds\": 61");
	r = run(d, NULL);
	CHECK(r.n == 0);
	asl_report_free(&r);
	free(d);
}

static void test_no_token(void)
{
	char *d = variant(TOKEN_ENV, "\"Environment\": [{\"Name\": \"X\", \"Value\": \"y\"}]");
	expect_one(d, ASL_NO_TOKEN, "Run", "\"Value.$\": \"$$.Task.Token\"");
	free(d);
	d = variant(", " OVERRIDES, "");
	expect_one(d, ASL_NO_TOKEN, "Run", "ContainerOverrides");
	free(d);
	/* Overrides computed at run time may carry it: not a finding. */
	d = variant(OVERRIDES, "\"Overrides.$\": \"$.overrides\"");
	struct asl_report r = run(d, NULL);
	CHECK(r.n == 0);
	asl_report_free(&r);
	free(d);
}

static void test_token_name(void)
{
	char *d = variant("\"Name\": \"TASK_TOKEN\"", "\"Name\": \"SFN_TOKEN\"");
	expect_one(d, ASL_TOKEN_NAME, "Run", "--token-env SFN_TOKEN");
	struct asl_options opt = { 60, "SFN_TOKEN" };
	struct asl_report r = run(d, &opt);
	CHECK(r.n == 0);
	asl_report_free(&r);
	free(d);
}

static void test_no_network(void)
{
	char *d = variant(NET ", ", "");
	expect_one(d, ASL_NO_NETWORK, "Run", "\"NetworkConfiguration\": {\"AwsvpcConfiguration\"");
	free(d);
	/* EC2 without awsvpc needs none. */
	d = variant("\"LaunchType\": \"FARGATE\", \"Cluster\": \"c\", \"TaskDefinition\": \"td\", " NET,
		    "\"LaunchType\": \"EC2\", \"Cluster\": \"c\", \"TaskDefinition\": \"td\"");
	struct asl_report r = run(d, NULL);
	CHECK(r.n == 0);
	asl_report_free(&r);
	free(d);
	/* A Fargate capacity provider is Fargate too. */
	d = variant("\"LaunchType\": \"FARGATE\", \"Cluster\": \"c\", \"TaskDefinition\": \"td\", " NET,
		    "\"CapacityProviderStrategy\": [{\"CapacityProvider\": \"FARGATE_SPOT\"}], "
		    "\"Cluster\": \"c\", \"TaskDefinition\": \"td\"");
	expect_one(d, ASL_NO_NETWORK, "Run", "NetworkConfiguration");
	free(d);
}

static void test_no_retry(void)
{
	char *d = variant(RETRY ", ", "");
	expect_one(d, ASL_NO_RETRY, "Run", "\"Retry\": [{\"ErrorEquals\": [\"ContainerStopped\"]");
	free(d);
	d = variant("[\"ContainerStopped\"], \"MaxAttempts\"", "[\"ScriptFailed\"], \"MaxAttempts\"");
	expect_one(d, ASL_NO_RETRY, "Run", "to \"Retry\": {\"ErrorEquals\": [\"ContainerStopped\"]");
	free(d);
	d = variant("[\"ContainerStopped\"], \"MaxAttempts\"", "[\"States.ALL\"], \"MaxAttempts\"");
	struct asl_report r = run(d, NULL);
	CHECK(r.n == 0);
	asl_report_free(&r);
	free(d);
}

static void test_no_catch(void)
{
	char *d = variant(", " CATCH, "");
	expect_one(d, ASL_NO_CATCH, "Run", "\"Catch\": [{\"ErrorEquals\": [\"States.ALL\"]");
	free(d);
	/* Partly caught: the finding names what is missing. */
	d = variant("[\"States.ALL\"], \"Next\"", "[\"ScriptFailed\", \"ContainerStopped\"], \"Next\"");
	expect_one(d, ASL_NO_CATCH, "Run", "ScriptTimedOut, OutputInvalid, ExecFailed");
	free(d);
	d = variant("[\"States.ALL\"], \"Next\"", "[\"States.TaskFailed\"], \"Next\"");
	struct asl_report r = run(d, NULL);
	CHECK(r.n == 0);
	asl_report_free(&r);
	free(d);
}

/* Every finding at once, inside a Map inside a Parallel. */
static void test_nested_all(void)
{
	static const char def[] =
		"{\"StartAt\": \"P\", \"States\": {\"P\": {\"Type\": \"Parallel\", \"End\": true, \"Branches\": ["
		"{\"StartAt\": \"Other\", \"States\": {\"Other\": {\"Type\": \"Pass\", \"End\": true}}},"
		"{\"StartAt\": \"M\", \"States\": {\"M\": {\"Type\": \"Map\", \"End\": true, \"ItemProcessor\": "
		"{\"StartAt\": \"Deep\", \"States\": {\"Deep\": {\"Type\": \"Task\", " RES ", \"Parameters\": "
		"{\"LaunchType\": \"FARGATE\", \"Overrides\": {\"ContainerOverrides\": [{\"Name\": \"app\", "
		"\"Environment\": [{\"Name\": \"T\", \"Value.$\": \"$$.Task.Token\"}]}]}}, "
		"\"HeartbeatSeconds\": 30, \"End\": true}}}}}}]}}}";
	struct asl_report r = run(def, NULL);
	CHECK(r.tasks == 1);
	CHECK(r.n == 6);
	bool seen[8] = { false };
	for (size_t i = 0; i < r.n; i++) {
		CHECK_STR(r.findings[i].state, "Deep");
		seen[r.findings[i].problem] = true;
	}
	CHECK(seen[ASL_NO_TIMEOUT] && seen[ASL_SHORT_HEARTBEAT] && seen[ASL_TOKEN_NAME]);
	CHECK(seen[ASL_NO_NETWORK] && seen[ASL_NO_RETRY] && seen[ASL_NO_CATCH]);
	asl_report_free(&r);
}

/* An Iterator (the older Map field) and a Retry/Catch on the enclosing Map. */
static void test_iterator_and_outer_cover(void)
{
	static const char def[] =
		"{\"StartAt\": \"M\", \"States\": {\"M\": {\"Type\": \"Map\", \"End\": true, " RETRY ", " CATCH
		", \"Iterator\": {\"StartAt\": \"T\", \"States\": {\"T\": {\"Type\": \"Task\", " RES
		", \"Parameters\": {\"LaunchType\": \"EC2\", " OVERRIDES "}, \"HeartbeatSeconds\": 300, "
		"\"TimeoutSeconds\": 900, \"End\": true}}}}, " FAIL_STATE "}}";
	struct asl_report r = run(def, NULL);
	CHECK(r.tasks == 1);
	CHECK(r.n == 0);
	asl_report_free(&r);
}

static void test_jsonata(void)
{
	static const char clean[] =
		"{\"QueryLanguage\": \"JSONata\", \"StartAt\": \"J\", \"States\": {\"J\": {\"Type\": \"Task\", "
		"\"Resource\": \"arn:aws-cn:states:::ecs:runTask.waitForTaskToken\", \"Arguments\": {"
		"\"LaunchType\": \"EC2\", \"Overrides\": {\"ContainerOverrides\": [{\"Name\": \"app\", "
		"\"Environment\": [{\"Name\": \"TASK_TOKEN\", \"Value\": \"{% $states.context.Task.Token %}\"}]}]}},"
		" \"HeartbeatSeconds\": 120, \"TimeoutSeconds\": \"{% $states.input.timeout %}\", " RETRY ", "
		CATCH ", \"End\": true}, " FAIL_STATE "}}";
	struct asl_report r = run(clean, NULL);
	CHECK(r.tasks == 1);
	CHECK(r.n == 0);
	asl_report_free(&r);

	static const char broken[] =
		"{\"QueryLanguage\": \"JSONata\", \"StartAt\": \"J\", \"States\": {\"J\": {\"Type\": \"Task\", "
		RES ", \"Arguments\": {\"LaunchType\": \"FARGATE\"}, \"HeartbeatSeconds\": 120, "
		"\"TimeoutSeconds\": 600, " RETRY ", " CATCH ", \"End\": true}, " FAIL_STATE "}}";
	r = run(broken, NULL);
	CHECK(r.n == 2);
	for (size_t i = 0; i < r.n; i++) {
		if (r.findings[i].problem == ASL_NO_TOKEN)
			CHECK(strstr(r.findings[i].text, "{% $states.context.Task.Token %}") != NULL);
		else
			CHECK(r.findings[i].problem == ASL_NO_NETWORK &&
			      strstr(r.findings[i].text, "add to Arguments") != NULL);
	}
	asl_report_free(&r);
}

static void test_other_tasks_ignored(void)
{
	static const char def[] =
		"{\"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Task\", "
		"\"Resource\": \"arn:aws:states:::ecs:runTask.sync\", \"Next\": \"B\"}, \"B\": {\"Type\": \"Task\", "
		"\"Resource\": \"arn:aws:lambda:us-east-1:123456789012:function:f\", \"End\": true}}}";
	struct asl_report r = run(def, NULL);
	CHECK(r.tasks == 0);
	/* The .sync task is reported (the agent cannot report there); the
	 * Lambda task is none of ours. */
	CHECK(r.sync_tasks == 1);
	CHECK(r.n == 1 && r.findings[0].problem == ASL_SYNC_TASK && strcmp(r.findings[0].state, "A") == 0);
	asl_report_free(&r);
}

static void test_not_a_state_machine(void)
{
	static const char *const bad[] = { "", "[]", "{\"StartAt\": \"A\"}", "{not json", "{\"States\": 3}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct asl_report r;
		struct err err = { "" };
		CHECK(asl_check(bad[i], strlen(bad[i]), NULL, &r, &err) == -1);
		CHECK(err.msg[0] != '\0');
		CHECK(r.n == 0 && r.findings == NULL);
	}
}

static void check_template(const struct template_opts *o)
{
	struct buf out = BUF_INIT;
	struct err err = { "" };
	CHECK(template_asl(o, &out, &err) == 0);
	struct asl_report r = run(buf_cstr(&out), NULL);
	CHECK(r.tasks == 2);
	CHECK(r.n == 0);
	for (size_t i = 0; i < r.n; i++)
		fprintf(stderr, "  template finding: %s\n", r.findings[i].text);
	asl_report_free(&r);
	CHECK(strstr(buf_cstr(&out), "\n  \"States\": {\n") != NULL); /* 2-space indent */
	CHECK(strstr(buf_cstr(&out), "\"Command.$\": \"$.commands\"") != NULL);
	CHECK(strstr(buf_cstr(&out), "\"IsPresent\": true") != NULL);
	buf_free(&out);
}

static void test_template_passes_check(void)
{
	struct template_opts fargate = { "c", "td:3", "app", "subnet-1, subnet-2", "sg-1", NULL, 0, 0, true };
	check_template(&fargate);
	struct template_opts ec2 = { "c", "td", "app", NULL, NULL, "EC2", 120, 600, false };
	check_template(&ec2);
}

static void test_template_refusals(void)
{
	struct buf out = BUF_INIT;
	struct err err = { "" };
	struct template_opts no_subnets = { "c", "td", "app", NULL, NULL, "FARGATE", 0, 0, false };
	CHECK(template_asl(&no_subnets, &out, &err) == -1);
	CHECK(strstr(err.msg, "--subnets") != NULL);
	struct template_opts empty_subnets = { "c", "td", "app", " , ", NULL, NULL, 0, 0, false };
	CHECK(template_asl(&empty_subnets, &out, &err) == -1);
	struct template_opts hb_too_long = { "c", "td", "app", NULL, NULL, "EC2", 600, 600, false };
	CHECK(template_asl(&hb_too_long, &out, &err) == -1);
	CHECK(strstr(err.msg, "--heartbeat") != NULL);
	struct template_opts bad_lt = { "c", "td", "app", NULL, NULL, "EXTERNAL", 0, 0, false };
	CHECK(template_cloudformation(&bad_lt, &out, &err) == -1);
	CHECK(out.len == 0);
	buf_free(&out);
}

static void test_template_cloudformation(void)
{
	struct buf out = BUF_INIT;
	struct err err = { "" };
	struct template_opts o = { "c", "td", "app", "subnet-1", NULL, NULL, 0, 0, false };
	CHECK(template_cloudformation(&o, &out, &err) == 0);
	const char *t = buf_cstr(&out);
	static const char *const want[] = {
		"\"AWS::StepFunctions::StateMachine\"", "\"states.amazonaws.com\"", "\"ecs:RunTask\"",
		"task-definition/td:*", "\"iam:PassRole\"", "\"ecs:StopTask\"", "\"ecs:DescribeTasks\"",
		"rule/StepFunctionsGetEventsForECSTaskRule", "\"states:SendTaskSuccess\"",
		"\"states:SendTaskFailure\"", "\"states:SendTaskHeartbeat\"", "\"AWS::IAM::ManagedPolicy\"",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		if (!strstr(t, want[i]))
			fprintf(stderr, "  missing %s\n", want[i]);
		CHECK(strstr(t, want[i]) != NULL);
	}
	buf_free(&out);
}

/* Every finding of def, one per line, for messages. */
static void dump(const struct asl_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		fprintf(stderr, "  finding: %s\n", r->findings[i].text);
}

/* The HeartbeatSeconds a finding suggests ("HeartbeatSeconds": N), or -1. */
static int suggested_heartbeat(const char *text)
{
	const char *p = strstr(text, "\"HeartbeatSeconds\": ");
	return p ? atoi(p + 20) : -1;
}

/* Step Functions refuses HeartbeatSeconds >= TimeoutSeconds: the advice must
 * stay below the state's TimeoutSeconds and above the agent's heartbeat. */
static void test_heartbeat_suggestion_below_timeout(void)
{
	static const int timeouts[] = { 120, 150, 200, 301, 3600 };
	for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
		char t[64];
		snprintf(t, sizeof t, "\"TimeoutSeconds\": %d,", timeouts[i]);
		char *a = variant("\"HeartbeatSeconds\": 300, \"TimeoutSeconds\": 3600,", t);
		struct asl_options opt = { 30, "TASK_TOKEN" };
		struct asl_report r = run(a, &opt);
		CHECK(r.n == 1 && r.findings[0].problem == ASL_NO_HEARTBEAT);
		if (r.n == 1) {
			int hb = suggested_heartbeat(r.findings[0].text);
			if (!(hb > 30 && hb < timeouts[i]))
				fprintf(stderr, "  TimeoutSeconds %d: %s\n", timeouts[i], r.findings[0].text);
			CHECK(hb > 30 && hb < timeouts[i]);
		}
		asl_report_free(&r);
		free(a);
	}
	/* A short one suggests a value below the timeout too. */
	char *b = variant("\"HeartbeatSeconds\": 300, \"TimeoutSeconds\": 3600,",
			  "\"HeartbeatSeconds\": 20, \"TimeoutSeconds\": 150,");
	struct asl_options opt = { 30, "TASK_TOKEN" };
	struct asl_report r = run(b, &opt);
	CHECK(r.n == 1 && r.findings[0].problem == ASL_SHORT_HEARTBEAT);
	if (r.n == 1)
		CHECK(suggested_heartbeat(r.findings[0].text) == 90);
	asl_report_free(&r);
	free(b);
}

/* No value above twice the agent's heartbeat fits below TimeoutSeconds:
 * the advice is to raise TimeoutSeconds first. */
static void test_heartbeat_no_room_says_raise_timeout(void)
{
	char *a = variant("\"HeartbeatSeconds\": 300, \"TimeoutSeconds\": 3600,", "\"TimeoutSeconds\": 120,");
	struct asl_report r = run(a, NULL); /* agent heartbeat 60: 120 leaves no room */
	CHECK(r.n == 1);
	if (r.n == 1) {
		CHECK(r.findings[0].problem == ASL_NO_HEARTBEAT);
		CHECK(strstr(r.findings[0].text, "raise \"TimeoutSeconds\" above 300, then add \"HeartbeatSeconds\": 300"));
	} else {
		dump(&r);
	}
	asl_report_free(&r);
	free(a);
}

static void test_sync_task(void)
{
	char *a = variant("ecs:runTask.waitForTaskToken", "ecs:runTask.sync");
	struct asl_report r = run(a, NULL);
	CHECK(r.n == 1 && r.tasks == 0 && r.sync_tasks == 1);
	if (r.n == 1) {
		CHECK(r.findings[0].problem == ASL_SYNC_TASK);
		CHECK(strstr(r.findings[0].text, "PID 1") && strstr(r.findings[0].text, "reports nothing"));
		CHECK(strstr(r.findings[0].text, "arn:aws:states:::ecs:runTask.waitForTaskToken"));
	} else {
		dump(&r);
	}
	asl_report_free(&r);
	free(a);
	/* Fargate without NetworkConfiguration is found there too. */
	char *b = variant("ecs:runTask.waitForTaskToken", "ecs:runTask.sync");
	char *c = strstr(b, NET ", ");
	memmove(c, c + strlen(NET ", "), strlen(c + strlen(NET ", ")) + 1);
	r = run(b, NULL);
	CHECK(r.n == 2 && r.n == 2 && r.findings[1].problem == ASL_NO_NETWORK);
	asl_report_free(&r);
	free(b);
}

static void test_error_names(void)
{
	static const struct {
		const char *name, *fix;
	} cases[] = {
		{ "Ecs.AmazonECSException", "ECS.AmazonECSException" },
		{ "ecs.AccessDeniedException", "ECS.AccessDeniedException" },
		{ "scriptfailed", "ScriptFailed" },
		{ "CONTAINERSTOPPED", "ContainerStopped" },
		{ "states.all", "States.ALL" },
		{ "States.Taskfailed", "States.TaskFailed" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char retry[160], want[200];
		snprintf(retry, sizeof retry, "\"Retry\": [{\"ErrorEquals\": [\"ContainerStopped\", \"%s\"]",
			 cases[i].name);
		char *a = variant("\"Retry\": [{\"ErrorEquals\": [\"ContainerStopped\"]", retry);
		snprintf(want, sizeof want, "Retry's ErrorEquals \"%s\" never matches", cases[i].name);
		expect_one(a, ASL_ERROR_NAME, "Run", want);
		snprintf(want, sizeof want, "add \"%s\" in its place", cases[i].fix);
		expect_one(a, ASL_ERROR_NAME, "Run", want);
		free(a);
	}
	/* Names that are right, or not ours to judge, pass. */
	char *ok = variant("\"ErrorEquals\": [\"States.ALL\"]",
			   "\"ErrorEquals\": [\"ECS.AmazonECSException\", \"MyApp.Failed\", \"States.ALL\"]");
	struct asl_report r = run(ok, NULL);
	CHECK(r.n == 0);
	dump(&r);
	asl_report_free(&r);
	free(ok);
	/* A Parallel around the task is read too. */
	static const char par[] =
		"{\"StartAt\": \"P\", \"States\": {\"P\": {\"Type\": \"Parallel\", \"Branches\": [{\"StartAt\": "
		"\"Run\", \"States\": {\"Run\": " GOOD_TASK ", " FAIL_STATE "}}], \"Catch\": [{\"ErrorEquals\": "
		"[\"Ecs.ServerException\"], \"Next\": \"F\"}], \"End\": true}, \"F\": {\"Type\": \"Fail\"}}}";
	expect_one(par, ASL_ERROR_NAME, "P", "Catch's ErrorEquals \"Ecs.ServerException\"");
}

/* Overrides as written, the token counted at 2,048 characters, against
 * RunTask's 8,192. */
static void test_overrides_size(void)
{
	char big[8000], env[8200];
	/* 6,000 characters of literal environment: with the token, over the 7,168 that leave room. */
	memset(big, 'v', 6000);
	big[6000] = '\0';
	snprintf(env, sizeof env, "\"Environment\": [{\"Name\": \"TASK_TOKEN\", \"Value.$\": \"$$.Task.Token\"}, "
				  "{\"Name\": \"BIG\", \"Value\": \"%s\"}]", big);
	char *a = variant(TOKEN_ENV, env);
	struct asl_report r = run(a, NULL);
	CHECK(r.n == 1 && r.findings[0].problem == ASL_OVERRIDES_SIZE);
	if (r.n == 1)
		CHECK(strstr(r.findings[0].text, "leaving ") && strstr(r.findings[0].text, "2,048-character task token"));
	else
		dump(&r);
	asl_report_free(&r);
	free(a);
	/* Over the limit itself: RunTask refuses. */
	memset(big, 'v', 7000);
	big[7000] = '\0';
	snprintf(env, sizeof env, "\"Environment\": [{\"Name\": \"TASK_TOKEN\", \"Value.$\": \"$$.Task.Token\"}, "
				  "{\"Name\": \"BIG\", \"Value\": \"%s\"}]", big);
	a = variant(TOKEN_ENV, env);
	expect_one(a, ASL_OVERRIDES_SIZE, "Run", "more than the 8,192 RunTask accepts");
	free(a);
	/* 4,000 characters: with the token, 2,000 left: no finding (the clean
	 * definition's 2,100 characters are checked by test_clean). */
	memset(big, 'v', 4000);
	big[4000] = '\0';
	snprintf(env, sizeof env, "\"Environment\": [{\"Name\": \"TASK_TOKEN\", \"Value.$\": \"$$.Task.Token\"}, "
				  "{\"Name\": \"BIG\", \"Value\": \"%s\"}]", big);
	a = variant(TOKEN_ENV, env);
	r = run(a, NULL);
	CHECK(r.n == 0);
	dump(&r);
	asl_report_free(&r);
	free(a);
}

static void test_problem_names(void)
{
	CHECK_STR(asl_problem_name(ASL_NO_TIMEOUT), "no-timeout");
	CHECK_STR(asl_problem_name(ASL_SYNC_TASK), "sync-task");
	CHECK_STR(asl_problem_name(ASL_ERROR_NAME), "error-name");
	CHECK_STR(asl_problem_name(ASL_OVERRIDES_SIZE), "overrides-size");
}

int main(void)
{
	RUN(test_clean);
	RUN(test_no_timeout);
	RUN(test_no_heartbeat);
	RUN(test_short_heartbeat);
	RUN(test_no_token);
	RUN(test_token_name);
	RUN(test_no_network);
	RUN(test_no_retry);
	RUN(test_no_catch);
	RUN(test_nested_all);
	RUN(test_iterator_and_outer_cover);
	RUN(test_jsonata);
	RUN(test_other_tasks_ignored);
	RUN(test_not_a_state_machine);
	RUN(test_template_passes_check);
	RUN(test_template_refusals);
	RUN(test_template_cloudformation);
	RUN(test_heartbeat_suggestion_below_timeout);
	RUN(test_heartbeat_no_room_says_raise_timeout);
	RUN(test_sync_task);
	RUN(test_error_names);
	RUN(test_overrides_size);
	RUN(test_problem_names);
	return CHECK_DONE();
}
