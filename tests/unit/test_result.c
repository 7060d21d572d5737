/* The report: cause shape and truncation, option parsing, and the decision
 * table (error name and exit status for each way a command can end). */
#include "wrapper/result.h"
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <cjson/cJSON.h>

static void test_cause_exact(void)
{
	struct buf out = BUF_INIT;
	cause_build(&out, 3, 0, 12.414, "command exited with status 3", span_str("oops\n"), NULL);
	CHECK_STR(out.data, "{\"exitCode\":3,\"signal\":null,\"durationSeconds\":12.41,"
			    "\"message\":\"command exited with status 3\",\"stderrTail\":\"oops\\n\"}");
	cause_build(&out, -1, SIGKILL, 0.005, "command was killed by SIGKILL", span_str(""),
		    "arn:aws:ecs:us-east-1:123456789012:task/c/abc");
	CHECK_STR(out.data, "{\"exitCode\":null,\"signal\":\"SIGKILL\",\"durationSeconds\":0.01,"
			    "\"message\":\"command was killed by SIGKILL\",\"stderrTail\":\"\","
			    "\"taskArn\":\"arn:aws:ecs:us-east-1:123456789012:task/c/abc\"}");
	buf_free(&out);
}

static cJSON *parse(const struct buf *b)
{
	cJSON *j = cJSON_ParseWithLength(b->data, b->len);
	CHECK(j != NULL);
	return j;
}

static void test_cause_truncation(void)
{
	struct buf err = BUF_INIT, out = BUF_INIT;
	for (int i = 0; i < 5000; i++)
		buf_printf(&err, "line %05d with a \"quote\" and a tab\t\n", i);
	buf_puts(&err, "THE END");
	cause_build(&out, 1, 0, 1, "command exited with status 1", span_of(err.data, err.len), NULL);
	CHECK(out.len <= CAUSE_MAX_BYTES);
	CHECK(out.len > CAUSE_MAX_BYTES - 8); /* cut only as much as needed */
	cJSON *j = parse(&out);
	const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(j, "stderrTail"));
	CHECK(t != NULL);
	if (t) {
		size_t n = strlen(t);
		CHECK(n > 7 && strcmp(t + n - 7, "THE END") == 0);
		/* The front was cut: the text is a suffix of what was written. */
		CHECK(n < err.len && memcmp(err.data + err.len - n, t, n) == 0);
	}
	cJSON_Delete(j);
	buf_free(&err);
	buf_free(&out);
}

static void test_cause_utf8(void)
{
	struct buf out = BUF_INIT, err = BUF_INIT;
	cause_build(&out, 1, 0, 0, "m", span_str("bad \xff\xfe byte\x01"), NULL);
	CHECK(strstr(out.data, "\"stderrTail\":\"bad \xef\xbf\xbd\xef\xbf\xbd byte\\u0001\"") != NULL);
	/* Many 3-byte characters: the cut never splits one. */
	for (int k = 0; k < 3; k++) {
		buf_reset(&err);
		for (int i = 0; i < k; i++)
			buf_putc(&err, 'a');
		for (int i = 0; i < 20000; i++)
			buf_puts(&err, "\xe2\x82\xac"); /* euro sign */
		cause_build(&out, 1, 0, 0, "m", span_of(err.data, err.len), NULL);
		CHECK(out.len <= CAUSE_MAX_BYTES);
		CHECK(strstr(out.data, "\xef\xbf\xbd") == NULL);
		const char *t = strstr(out.data, "\"stderrTail\":\"") + 14;
		CHECK(memcmp(t, "\xe2\x82\xac", 3) == 0);
		cJSON *j = parse(&out);
		cJSON_Delete(j);
	}
	/* A huge message (a long command name) still fits. */
	buf_reset(&err);
	for (int i = 0; i < 100000; i++)
		buf_putc(&err, 'c');
	cause_build(&out, 1, 0, 0, err.data, span_of(err.data, err.len), "arn");
	CHECK(out.len <= CAUSE_MAX_BYTES);
	cJSON *j = parse(&out);
	CHECK(cJSON_GetObjectItem(j, "taskArn") != NULL);
	cJSON_Delete(j);
	buf_free(&out);
	buf_free(&err);
}

static void test_exit_code_map(void)
{
	struct exit_code_map *m;
	size_t n;
	struct err e;
	CHECK(exit_code_map_parse("3=RetryableError,4=BadInput", &m, &n, &e) == 0 && n == 2);
	if (n == 2) {
		CHECK(m[0].code == 3 && strcmp(m[0].error, "RetryableError") == 0);
		CHECK(m[1].code == 4 && strcmp(m[1].error, "BadInput") == 0);
	}
	exit_code_map_free(m, n);
	CHECK(exit_code_map_parse(" 0 = Ok , 255=Max ", &m, &n, &e) == 0 && n == 2 && m[1].code == 255);
	exit_code_map_free(m, n);
	CHECK(exit_code_map_parse("", &m, &n, &e) == 0 && n == 0);
	CHECK(exit_code_map_parse("3=A,3=B", &m, &n, &e) == -1 && strstr(e.msg, "twice"));
	CHECK(exit_code_map_parse("256=A", &m, &n, &e) == -1 && strstr(e.msg, "256=A"));
	CHECK(exit_code_map_parse("-1=A", &m, &n, &e) == -1);
	CHECK(exit_code_map_parse("x=A", &m, &n, &e) == -1);
	CHECK(exit_code_map_parse("3", &m, &n, &e) == -1);
	CHECK(exit_code_map_parse("3=", &m, &n, &e) == -1 && strstr(e.msg, "empty"));
	CHECK(exit_code_map_parse("3=A,", &m, &n, &e) == -1 && strstr(e.msg, "empty entry"));
	CHECK(exit_code_map_parse("3=A\tB", &m, &n, &e) == -1 && strstr(e.msg, "control"));
	struct buf big = BUF_INIT;
	buf_puts(&big, "7=");
	for (int i = 0; i < 257; i++)
		buf_putc(&big, 'E');
	CHECK(exit_code_map_parse(big.data, &m, &n, &e) == -1 && strstr(e.msg, "257 characters"));
	buf_free(&big);

	int *c;
	CHECK(success_codes_parse("0,143", &c, &n, &e) == 0 && n == 2 && c[0] == 0 && c[1] == 143);
	free(c);
	CHECK(success_codes_parse("0,x", &c, &n, &e) == -1 && strstr(e.msg, "\"x\""));
	CHECK(success_codes_parse("300", &c, &n, &e) == -1);
	CHECK(success_codes_parse("", &c, &n, &e) == -1);
	CHECK(success_codes_parse("1,,2", &c, &n, &e) == -1);
}

static void test_error_name(void)
{
	struct err e;
	char name[300];
	memset(name, 'a', sizeof name);
	name[256] = '\0';
	CHECK(error_name_validate(name, "--error", &e) == 0);
	name[256] = 'a';
	name[257] = '\0';
	CHECK(error_name_validate(name, "--error", &e) == -1 && strstr(e.msg, "--error"));
	CHECK(error_name_validate("", "--error", &e) == -1);
	CHECK(error_name_validate("Bad\nName", "--error", &e) == -1);
	CHECK(error_name_validate("Caf\xc3\xa9", "--error", &e) == 0);
	CHECK(error_name_validate("Caf\xc3", "--error", &e) == -1);
}

static void test_signal_names(void)
{
	CHECK_STR(signal_name(SIGKILL), "SIGKILL");
	CHECK_STR(signal_name(SIGTERM), "SIGTERM");
	CHECK_STR(signal_name(SIGHUP), "SIGHUP");
	CHECK_STR(signal_name(SIGSYS), "SIGSYS");
	CHECK_STR(signal_name(SIGRTMIN), "SIGRTMIN");
	CHECK_STR(signal_name(SIGRTMIN + 3), "SIGRTMIN+3");
	CHECK(signal_name(0) == NULL && signal_name(999) == NULL);
}

/* A finished command, as supervise_run would describe it. */
static struct command_result finished(int exit_code, int sig, enum stop_reason stop)
{
	struct command_result r;
	memset(&r, 0, sizeof r);
	r.started = true;
	r.exit_code = sig ? -1 : exit_code;
	r.term_signal = sig;
	r.stop = stop;
	r.duration_s = 2.5;
	r.stdout_tail.max = 1000;
	r.stderr_tail.max = 1000;
	r.command = xstrdup("job.sh");
	tail_append(&r.stderr_tail, "boom\n", 5);
	return r;
}

struct decision {
	bool success;
	char error[ERROR_NAME_MAX * 4 + 1];
	int status;
	char message[600];
	char output[300];
	char logged[1024];
};

static struct decision decide(struct command_result *r, const struct result_policy *pol)
{
	struct report rep;
	struct decision d;
	memset(&d, 0, sizeof d);
	result_decide(r, pol, &rep);
	d.success = rep.success;
	d.status = rep.exit_status;
	snprintf(d.logged, sizeof d.logged, "%s", rep.message);
	snprintf(d.error, sizeof d.error, "%s", rep.error);
	snprintf(d.output, sizeof d.output, "%s", buf_cstr(&rep.output));
	if (!rep.success) {
		cJSON *j = parse(&rep.cause);
		const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(j, "message"));
		snprintf(d.message, sizeof d.message, "%s", m ? m : "(none)");
		CHECK(rep.cause.len <= CAUSE_MAX_BYTES);
		cJSON_Delete(j);
	}
	report_free(&rep);
	command_result_free(r);
	return d;
}

static void test_decide(void)
{
	static const int ok143[] = { 0, 143 };
	struct exit_code_map map[] = { { 3, "RetryableError" }, { 4, "BadInput" } };
	struct result_policy pol = { OUTPUT_AUTO, NULL, map, 2, NULL, 0, NULL };
	struct command_result r;
	struct decision d;

	r = finished(0, 0, STOP_NONE);
	tail_append(&r.stdout_tail, "{\"ok\": true}\n", 13);
	d = decide(&r, &pol);
	CHECK(d.success && d.status == 0);
	CHECK_STR(d.output, "{\"ok\":true}");

	r = finished(0, 0, STOP_NONE);
	d = decide(&r, &pol);
	CHECK(d.success && d.status == 0);
	CHECK_STR(d.output, "{}");

	r = finished(0, 0, STOP_NONE);
	buf_puts(&r.output_file, "{broken");
	d = decide(&r, &pol);
	CHECK(!d.success && d.status == 1);
	CHECK_STR(d.error, "OutputInvalid");
	CHECK(strstr(d.message, "SFN_OUTPUT is not valid JSON") != NULL);

	r = finished(3, 0, STOP_NONE);
	d = decide(&r, &pol);
	CHECK(!d.success && d.status == 3);
	CHECK_STR(d.error, "RetryableError");
	CHECK_STR(d.message, "command exited with status 3");

	r = finished(5, 0, STOP_NONE);
	d = decide(&r, &pol);
	CHECK_STR(d.error, "ScriptFailed");
	CHECK(d.status == 5);

	pol.error_name = "MyError";
	r = finished(5, 0, STOP_NONE);
	d = decide(&r, &pol);
	CHECK_STR(d.error, "MyError");

	/* 256 characters of 4-byte UTF-8: whole, not cut mid-character. */
	static char wide[4 * 256 + 1];
	for (int i = 0; i < 256; i++)
		memcpy(wide + 4 * i, "\xf0\x9f\x98\x80", 4);
	struct err e;
	CHECK(error_name_validate(wide, "--error", &e) == 0);
	pol.error_name = wide;
	r = finished(5, 0, STOP_NONE);
	d = decide(&r, &pol);
	CHECK_STR(d.error, wide);
	pol.error_name = "MyError";

	/* A signal the agent did not send: --error, 128+N. */
	r = finished(0, SIGKILL, STOP_NONE);
	d = decide(&r, &pol);
	CHECK_STR(d.error, "MyError");
	CHECK(d.status == 137);
	CHECK_STR(d.message, "command was killed by SIGKILL");
	pol.error_name = NULL;

	r = finished(0, SIGTERM, STOP_TIMEOUT);
	r.timeout_ms = 5000;
	d = decide(&r, &pol);
	CHECK_STR(d.error, "ScriptTimedOut");
	CHECK(d.status == 143);
	CHECK_STR(d.message, "command timed out after 5 s and was terminated");

	r = finished(0, SIGKILL, STOP_TIMEOUT);
	r.timeout_ms = 5000;
	d = decide(&r, &pol);
	CHECK_STR(d.error, "ScriptTimedOut");
	CHECK(d.status == 137);

	r = finished(143, 0, STOP_SIGNAL);
	r.stop_signal = SIGTERM;
	d = decide(&r, &pol);
	CHECK_STR(d.error, "ContainerStopped");
	CHECK(d.status == 143);
	CHECK_STR(d.message, "the agent received SIGTERM; command exited with status 143");

	/* A stop that the command answers with a success code is a success. */
	pol.success_codes = ok143;
	pol.n_success = 2;
	r = finished(143, 0, STOP_SIGNAL);
	r.stop_signal = SIGTERM;
	d = decide(&r, &pol);
	CHECK(d.success && d.status == 143);
	/* ...also when its output is broken: OutputInvalid, its own status. */
	r = finished(143, 0, STOP_SIGNAL);
	buf_puts(&r.output_file, "nope");
	d = decide(&r, &pol);
	CHECK(!d.success && d.status == 143);
	CHECK_STR(d.error, "OutputInvalid");
	pol.success_codes = NULL;
	pol.n_success = 0;

	r = finished(0, SIGINT, STOP_SIGNAL);
	r.stop_signal = SIGINT;
	d = decide(&r, &pol);
	CHECK_STR(d.error, "ContainerStopped");
	CHECK(d.status == 130);
	CHECK_STR(d.message, "the agent received SIGINT; command was killed by SIGINT");

	r = finished(0, SIGTERM, STOP_TOKEN_LOST);
	d = decide(&r, &pol);
	CHECK_STR(d.error, "ScriptFailed");
	CHECK(d.status == 143);

	r = finished(0, 0, STOP_NONE);
	r.started = false;
	r.exec_errno = ENOENT;
	d = decide(&r, &pol);
	CHECK_STR(d.error, "ExecFailed");
	CHECK(d.status == 127);
	CHECK_STR(d.message, "command not found: job.sh");
	CHECK_STR(d.logged, "command not found: job.sh");

	r = finished(0, 0, STOP_NONE);
	r.started = false;
	r.exec_errno = EACCES;
	d = decide(&r, &pol);
	CHECK_STR(d.error, "ExecFailed");
	CHECK(d.status == 126);
}

static void test_decide_cause_fields(void)
{
	struct result_policy pol = { OUTPUT_AUTO, NULL, NULL, 0, NULL, 0, "arn:task" };
	struct command_result r = finished(2, 0, STOP_NONE);
	struct report rep;
	result_decide(&r, &pol, &rep);
	CHECK_STR(rep.cause.data, "{\"exitCode\":2,\"signal\":null,\"durationSeconds\":2.50,"
				  "\"message\":\"command exited with status 2\",\"stderrTail\":\"boom\\n\","
				  "\"taskArn\":\"arn:task\"}");
	report_free(&rep);
	command_result_free(&r);
	/* A stderr tail cut inside a character does not start with U+FFFD. */
	r = finished(2, 0, STOP_NONE);
	buf_free(&r.stderr_tail.b);
	r.stderr_tail.max = 4;
	r.stderr_tail.total = 0;
	tail_append(&r.stderr_tail, "x\xe2\x82\xac!", 5);
	result_decide(&r, &pol, &rep);
	CHECK(strstr(rep.cause.data, "\"stderrTail\":\"\xe2\x82\xac!\"") != NULL);
	report_free(&rep);
	r.stderr_tail.total = 0;
	buf_free(&r.stderr_tail.b);
	r.stderr_tail.max = 2;
	tail_append(&r.stderr_tail, "x\xe2\x82\xac!", 5);
	result_decide(&r, &pol, &rep);
	CHECK(strstr(rep.cause.data, "\"stderrTail\":\"!\"") != NULL);
	report_free(&rep);
	command_result_free(&r);
}

/* ---- regression tests from fuzzing (tests/fuzz/fuzz_codes.c) ---- */

/* error_name_validate allows 256 characters, not bytes: the report must keep
 * a long non-ASCII name whole, not cut it in the middle of a character. */
static void test_fuzz_long_utf8_error_name(void)
{
	char name[ERROR_NAME_MAX * 4 + 1];
	struct err e;
	for (int i = 0; i < ERROR_NAME_MAX; i++)
		memcpy(name + 4 * i, "\xf0\x9f\x98\x80", 4);
	name[ERROR_NAME_MAX * 4] = '\0';
	CHECK(error_name_validate(name, "--error", &e) == 0);
	struct result_policy pol = { OUTPUT_AUTO, name, NULL, 0, NULL, 0, NULL };
	struct command_result r = finished(5, 0, STOP_NONE);
	struct report rep;
	result_decide(&r, &pol, &rep);
	CHECK(!rep.success);
	CHECK_STR(rep.error, name);
	report_free(&rep);
	command_result_free(&r);
}

int main(void)
{
	RUN(test_cause_exact);
	RUN(test_cause_truncation);
	RUN(test_cause_utf8);
	RUN(test_exit_code_map);
	RUN(test_error_name);
	RUN(test_signal_names);
	RUN(test_decide);
	RUN(test_decide_cause_fields);
	RUN(test_fuzz_long_utf8_error_name);
	return CHECK_DONE();
}
