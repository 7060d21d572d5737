/* Run-mode options: defaults, flags, variables, the flag winning, and one
 * clear sentence for each kind of bad value. */
#include "check.h"

#include "base/input.h"
#include "src/opts.h"

#include <stdarg.h>
#include <stdlib.h>

static const char *fake_env[32][2];

static const char *fake_getenv(const char *name)
{
	for (int i = 0; fake_env[i][0]; i++)
		if (strcmp(fake_env[i][0], name) == 0)
			return fake_env[i][1];
	return NULL;
}

static struct sys fake_sys;

static void setenv_fake(int i, const char *k, const char *v)
{
	fake_env[i][0] = k;
	fake_env[i][1] = v;
	fake_env[i + 1][0] = NULL;
}

static enum opts_status parse(struct run_options *o, struct err *err, int argc, ...)
{
	static char *argv[32];
	va_list ap;
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	argv[argc] = NULL;
	err->msg[0] = '\0';
	return run_options_parse(argc, argv, &fake_sys, o, err);
}

static void test_defaults(void)
{
	struct run_options o;
	struct err err;
	fake_env[0][0] = NULL;
	CHECK(parse(&o, &err, 3, "sfn-agent", "--", "/app/job.sh") == OPTS_RUN);
	CHECK_STR(o.token_env, "TASK_TOKEN");
	CHECK(o.heartbeat_ms == 60000);
	CHECK(o.timeout_ms == 0);
	CHECK(o.grace_ms == 20000);
	CHECK(o.report_timeout_ms == 300000);
	CHECK(o.output == OUTPUT_AUTO);
	CHECK_STR(o.error_name, "ScriptFailed");
	CHECK(o.on_token_lost == LOST_TERMINATE);
	CHECK(o.n_success == 1 && o.success_codes[0] == 0);
	CHECK(o.signal_target == TARGET_GROUP);
	CHECK(!o.require_token);
	CHECK(o.log_level == LOG_INFO && o.log_format == LOG_TEXT);
	CHECK_STR(o.command[0], "/app/job.sh");
	CHECK(o.command[1] == NULL);
	run_options_free(&o);
}

static void test_flags(void)
{
	struct run_options o;
	struct err err;
	fake_env[0][0] = NULL;
	CHECK(parse(&o, &err, 24, "run", "--token-env", "MY_TOKEN", "--heartbeat", "0.5", "--timeout", "30",
		    "--grace", "2", "--output", "file", "--error", "JobFailed", "--exit-code-map",
		    "3=RetryableError,4=BadInput", "--on-token-lost", "continue", "--success-codes", "0,143",
		    "--signal-target", "child", "--require-token", "sh", "-c", "exit 3") == OPTS_RUN);
	CHECK_STR(o.token_env, "MY_TOKEN");
	CHECK(o.heartbeat_ms == 500);
	CHECK(o.timeout_ms == 30000);
	CHECK(o.grace_ms == 2000);
	CHECK(o.output == OUTPUT_FILE);
	CHECK_STR(o.error_name, "JobFailed");
	CHECK(o.n_map == 2 && o.map[0].code == 3 && strcmp(o.map[1].error, "BadInput") == 0);
	CHECK(o.on_token_lost == LOST_CONTINUE);
	CHECK(o.n_success == 2 && o.success_codes[1] == 143);
	CHECK(o.signal_target == TARGET_CHILD);
	CHECK(o.require_token);
	/* The command's own options are never parsed as ours. */
	CHECK_STR(o.command[0], "sh");
	CHECK_STR(o.command[1], "-c");
	run_options_free(&o);
}

static void test_env_and_flag_precedence(void)
{
	struct run_options o;
	struct err err;
	setenv_fake(0, "SFN_AGENT_HEARTBEAT", "10");
	setenv_fake(1, "SFN_AGENT_OUTPUT", "none");
	setenv_fake(2, "SFN_AGENT_REQUIRE_TOKEN", "1");
	setenv_fake(3, "SFN_AGENT_LOG_FORMAT", "json");
	CHECK(parse(&o, &err, 4, "sfn-agent", "--heartbeat", "20", "true") == OPTS_RUN);
	CHECK(o.heartbeat_ms == 20000); /* the flag wins */
	CHECK(o.output == OUTPUT_NONE);
	CHECK(o.require_token);
	CHECK(o.log_format == LOG_JSON);
	run_options_free(&o);
	fake_env[0][0] = NULL;
}

static void test_bad_values(void)
{
	struct run_options o;
	struct err err;
	fake_env[0][0] = NULL;
	CHECK(parse(&o, &err, 4, "sfn-agent", "--heartbeat", "abc", "true") == OPTS_ERROR);
	CHECK(strstr(err.msg, "--heartbeat 'abc'") && strstr(err.msg, "seconds"));
	CHECK(parse(&o, &err, 4, "sfn-agent", "--timeout", "-1", "true") == OPTS_ERROR);
	CHECK(parse(&o, &err, 4, "sfn-agent", "--grace", "1e3", "true") == OPTS_ERROR);
	CHECK(parse(&o, &err, 4, "sfn-agent", "--timeout", "31536001", "true") == OPTS_ERROR);
	CHECK(parse(&o, &err, 4, "sfn-agent", "--output", "yaml", "true") == OPTS_ERROR);
	CHECK(strstr(err.msg, "auto, file, stdout or none"));
	CHECK(parse(&o, &err, 4, "sfn-agent", "--on-token-lost", "ignore", "true") == OPTS_ERROR);
	CHECK(parse(&o, &err, 4, "sfn-agent", "--signal-target", "all", "true") == OPTS_ERROR);
	CHECK(parse(&o, &err, 4, "sfn-agent", "--token-env", "1BAD", "true") == OPTS_ERROR);
	CHECK(parse(&o, &err, 4, "sfn-agent", "--exit-code-map", "x=Y", "true") == OPTS_ERROR);
	CHECK(parse(&o, &err, 4, "sfn-agent", "--success-codes", "0,,1", "true") == OPTS_ERROR);
	CHECK(parse(&o, &err, 3, "sfn-agent", "--bogus", "true") == OPTS_ERROR);
	CHECK(strstr(err.msg, "unknown option --bogus"));
	CHECK(parse(&o, &err, 2, "sfn-agent", "--heartbeat") == OPTS_ERROR);
	CHECK(strstr(err.msg, "needs a value"));
	CHECK(parse(&o, &err, 1, "sfn-agent") == OPTS_ERROR);
	CHECK(strstr(err.msg, "no command to run"));

	char long_name[300];
	memset(long_name, 'E', 257);
	long_name[257] = '\0';
	CHECK(parse(&o, &err, 4, "sfn-agent", "--error", long_name, "true") == OPTS_ERROR);

	setenv_fake(0, "SFN_AGENT_TIMEOUT", "soon");
	CHECK(parse(&o, &err, 2, "sfn-agent", "true") == OPTS_ERROR);
	CHECK(strstr(err.msg, "SFN_AGENT_TIMEOUT='soon'"));
	setenv_fake(0, "SFN_AGENT_REQUIRE_TOKEN", "yes");
	CHECK(parse(&o, &err, 2, "sfn-agent", "true") == OPTS_ERROR);
	fake_env[0][0] = NULL;
}

static void test_seconds_parse(void)
{
	CHECK(seconds_parse("0") == 0);
	CHECK(seconds_parse("60") == 60000);
	CHECK(seconds_parse("0.25") == 250);
	CHECK(seconds_parse("31536000") == 31536000000LL);
	CHECK(seconds_parse("31536001") == 31536001000LL); /* the run mode's cap is its own */
	CHECK(seconds_parse("1000000001") == -1);
	CHECK(seconds_parse("") == -1);
	CHECK(seconds_parse(" 5") == -1);
	CHECK(seconds_parse("0x10") == -1);
	CHECK(seconds_parse("inf") == -1);
	CHECK(seconds_parse("nan") == -1);
	CHECK(seconds_parse("5s") == -1);
}

int main(void)
{
	fake_sys = sys_real;
	fake_sys.getenv = fake_getenv;
	RUN(test_defaults);
	RUN(test_flags);
	RUN(test_env_and_flag_precedence);
	RUN(test_bad_values);
	RUN(test_seconds_parse);
	return CHECK_DONE();
}
