#include "src/opts.h"

#include "base/buf.h"
#include "base/contract.h"
#include "base/input.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SECONDS 31536000.0 /* a year: Step Functions' longest task */

enum opt_id {
	O_TOKEN_ENV = 256, O_HEARTBEAT, O_TIMEOUT, O_GRACE, O_OUTPUT, O_ERROR, O_EXIT_CODE_MAP,
	O_ON_TOKEN_LOST, O_SUCCESS_CODES, O_SIGNAL_TARGET, O_REQUIRE_TOKEN, O_REPORT_TIMEOUT,
	O_LOG_LEVEL, O_LOG_FORMAT, O_VERSION,
};

/* Each option's flag, variable, and value: parsed the same way whether the
 * value came from argv or the environment, so the error names the source.
 * The help is written from the same rows, so no option goes undescribed. */
struct setting {
	int id;
	const char *flag;
	const char *env;
	int has_arg;
	const char *arg;  /* the value's name in the help */
	const char *help; /* ends with the default in brackets */
	bool common;      /* also in `sfn-agent --help` */
};

static const struct setting settings[] = {
	{ O_TOKEN_ENV, "token-env", "SFN_AGENT_TOKEN_ENV", 1, "NAME", "variable holding the task token [TASK_TOKEN]", true },
	{ O_HEARTBEAT, "heartbeat", "SFN_AGENT_HEARTBEAT", 1, "SECONDS", "heartbeat period; 0 = none [60]", true },
	{ O_TIMEOUT, "timeout", "SFN_AGENT_TIMEOUT", 1, "SECONDS", "stop the command after this; 0 = never [0]", true },
	{ O_GRACE, "grace", "SFN_AGENT_GRACE", 1, "SECONDS", "from SIGTERM to SIGKILL [20]", true },
	{ O_OUTPUT, "output", "SFN_AGENT_OUTPUT", 1, "MODE", "result from: auto, file, stdout, none [auto]", true },
	{ O_ERROR, "error", "SFN_AGENT_ERROR", 1, "NAME", "error name of a failure [ScriptFailed]", false },
	{ O_EXIT_CODE_MAP, "exit-code-map", "SFN_AGENT_EXIT_CODE_MAP", 1, "LIST",
	  "per exit status: 3=Retryable,4=BadInput [none]", false },
	{ O_ON_TOKEN_LOST, "on-token-lost", "SFN_AGENT_ON_TOKEN_LOST", 1, "MODE",
	  "on a dead token: terminate or continue [terminate]", false },
	{ O_SUCCESS_CODES, "success-codes", "SFN_AGENT_SUCCESS_CODES", 1, "LIST",
	  "exit statuses that mean success, e.g. 0,143 [0]", false },
	{ O_SIGNAL_TARGET, "signal-target", "SFN_AGENT_SIGNAL_TARGET", 1, "T",
	  "signals go to the command's group or child [group]", false },
	{ O_REQUIRE_TOKEN, "require-token", "SFN_AGENT_REQUIRE_TOKEN", 0, NULL,
	  "exit 125 without a token (variable: 1 or 0) [off]", true },
	{ O_REPORT_TIMEOUT, "report-timeout", "SFN_AGENT_REPORT_TIMEOUT", 1, "SECONDS",
	  "how long the final report is retried [300]", false },
	{ O_LOG_LEVEL, "log-level", "SFN_AGENT_LOG_LEVEL", 1, "LEVEL", "error, warn, info or debug [info]", true },
	{ O_LOG_FORMAT, "log-format", "SFN_AGENT_LOG_FORMAT", 1, "FMT", "text or json [text]", false },
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

/* The architecture the binary was built for (not the host's: under qemu
 * they differ), and the libraries it runs with, for bug reports. */
void print_version(FILE *f)
{
#if defined(__x86_64__)
	const char *arch = "x86_64";
#elif defined(__aarch64__)
	const char *arch = "aarch64";
#elif defined(__i386__)
	const char *arch = "i386";
#elif defined(__arm__)
	const char *arch = "arm";
#else
	const char *arch = "unknown";
#endif
	fprintf(f, "sfn-agent %s (%s; OpenSSL %s, libcurl %s, cJSON %s)\n", SFN_AGENT_VERSION, arch,
		OpenSSL_version(OPENSSL_VERSION_STRING), curl_version_info(CURLVERSION_NOW)->version, cJSON_Version());
}

void run_usage(FILE *f, bool common_only)
{
	fputs("usage: sfn-agent [run] [OPTIONS] [--] COMMAND [ARG...]\n"
	      "\n"
	      "Runs COMMAND, relays its output, sends heartbeats, and reports exactly one\n"
	      "result for the task token in $TASK_TOKEN (SendTaskSuccess or SendTaskFailure).\n"
	      "Each option also reads a variable: SFN_AGENT_ and its name in capitals\n"
	      "(--token-env: SFN_AGENT_TOKEN_ENV); the flag wins.\n"
	      "\n",
	      f);
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *st = &settings[i];
		char flag[48];
		if (common_only && !st->common)
			continue;
		snprintf(flag, sizeof flag, "--%s%s%s", st->flag, st->arg ? " " : "", st->arg ? st->arg : "");
		fprintf(f, "  %-25s %s\n", flag, st->help);
	}
	if (common_only) {
		fputs("  (more: sfn-agent help run)\n", f);
		return;
	}
	fputs("  -h, --help                this text\n"
	      "  -V, --version             the version\n"
	      "\n"
	      "Exit status: the command's (128+N for signal N); 1 when it succeeded but success\n"
	      "could not be reported; 125 when the agent could not start; 126/127 when the\n"
	      "command could not be executed / was not found.\n",
	      f);
}

static bool valid_env_name(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static int bad(struct err *err, const struct setting *st, bool from_env, const char *value, const char *fix)
{
	if (from_env)
		return err_set(err, "%s='%s' is not valid: %s", st->env, value, fix);
	return err_set(err, "--%s '%s' is not valid: %s", st->flag, value, fix);
}

static int seconds_setting(int64_t *dst, const struct setting *st, bool from_env, const char *v, struct err *err)
{
	int64_t ms = seconds_parse(v);
	if (ms < 0 || ms > (int64_t)(MAX_SECONDS * 1000))
		return bad(err, st, from_env, v, "give a number of seconds from 0 to 31536000, e.g. 60");
	*dst = ms;
	return 0;
}

static int apply(struct run_options *o, const struct setting *st, bool from_env, const char *v, struct err *err)
{
	int n;
	switch (st->id) {
	case O_TOKEN_ENV:
		if (!valid_env_name(v))
			return bad(err, st, from_env, v, "give an environment variable name such as TASK_TOKEN");
		o->token_env = v;
		return 0;
	case O_HEARTBEAT:
		return seconds_setting(&o->heartbeat_ms, st, from_env, v, err);
	case O_TIMEOUT:
		return seconds_setting(&o->timeout_ms, st, from_env, v, err);
	case O_GRACE:
		return seconds_setting(&o->grace_ms, st, from_env, v, err);
	case O_REPORT_TIMEOUT:
		if (seconds_setting(&o->report_timeout_ms, st, from_env, v, err) != 0)
			return -1;
		if (o->report_timeout_ms == 0)
			return bad(err, st, from_env, v, "the final report needs at least some time, e.g. 300");
		return 0;
	case O_OUTPUT:
		if ((n = output_mode_parse(v)) < 0)
			return bad(err, st, from_env, v, "use auto, file, stdout or none");
		o->output = (enum output_mode)n;
		return 0;
	case O_ERROR: {
		struct err why;
		if (error_name_validate(v, "error name", &why) != 0)
			return bad(err, st, from_env, v, why.msg);
		o->error_name = v;
		return 0;
	}
	case O_EXIT_CODE_MAP: {
		struct err why;
		exit_code_map_free(o->map, o->n_map);
		o->map = NULL, o->n_map = 0;
		if (exit_code_map_parse(v, &o->map, &o->n_map, &why) != 0)
			return bad(err, st, from_env, v, why.msg);
		return 0;
	}
	case O_ON_TOKEN_LOST:
		if (strcmp(v, "terminate") == 0)
			o->on_token_lost = LOST_TERMINATE;
		else if (strcmp(v, "continue") == 0)
			o->on_token_lost = LOST_CONTINUE;
		else
			return bad(err, st, from_env, v, "use terminate or continue");
		return 0;
	case O_SUCCESS_CODES: {
		struct err why;
		free(o->success_codes);
		o->success_codes = NULL, o->n_success = 0;
		if (success_codes_parse(v, &o->success_codes, &o->n_success, &why) != 0)
			return bad(err, st, from_env, v, why.msg);
		return 0;
	}
	case O_SIGNAL_TARGET:
		if (strcmp(v, "group") == 0)
			o->signal_target = TARGET_GROUP;
		else if (strcmp(v, "child") == 0)
			o->signal_target = TARGET_CHILD;
		else
			return bad(err, st, from_env, v, "use group or child");
		return 0;
	case O_REQUIRE_TOKEN:
		/* Only reached from the environment; the flag takes no value. */
		if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
			o->require_token = true;
		else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
			o->require_token = false;
		else
			return bad(err, st, from_env, v, "use 1 (or true) to require a token, 0 (or false) not to");
		return 0;
	case O_LOG_LEVEL:
		return log_level_option(v, from_env, &o->log_level, err);
	case O_LOG_FORMAT:
		return log_format_option(v, from_env, &o->log_format, err);
	}
	return err_set(err, "internal error: unknown option %d", st->id);
}

static const struct setting *setting_by_id(int id)
{
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (settings[i].id == id)
			return &settings[i];
	return NULL;
}

enum opts_status run_options_parse(int argc, char **argv, const struct sys *sys, struct run_options *o,
				   struct err *err)
{
	static int success_zero[] = { 0 };
	memset(o, 0, sizeof *o);
	o->token_env = "TASK_TOKEN";
	o->heartbeat_ms = 60000;
	o->grace_ms = 20000;
	o->report_timeout_ms = 300000;
	o->output = OUTPUT_AUTO;
	o->error_name = SFN_ERR_SCRIPT_FAILED;
	o->on_token_lost = LOST_TERMINATE;
	o->signal_target = TARGET_GROUP;
	o->log_level = LOG_INFO;
	o->log_format = LOG_TEXT;

	/* The environment first, so that flags override it. */
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const char *v = sys_env(sys, settings[i].env);
		if (v && apply(o, &settings[i], true, v, err) != 0)
			goto fail;
	}

	struct option longopts[N_SETTINGS + 3];
	for (size_t i = 0; i < N_SETTINGS; i++)
		longopts[i] = (struct option){ settings[i].flag, settings[i].has_arg, NULL, settings[i].id };
	longopts[N_SETTINGS] = (struct option){ "help", 0, NULL, 'h' };
	longopts[N_SETTINGS + 1] = (struct option){ "version", 0, NULL, O_VERSION };
	longopts[N_SETTINGS + 2] = (struct option){ NULL, 0, NULL, 0 };

	/* '+': stop at the first non-option, which is the command; its own
	 * arguments are never ours.  ':': we print the errors ourselves. */
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+:hV", longopts, NULL)) != -1) {
		if (c == 'h') {
			run_usage(stdout, false);
			return OPTS_EXIT;
		}
		if (c == O_VERSION || c == 'V') {
			print_version(stdout);
			return OPTS_EXIT;
		}
		if (c == ':') {
			err_set(err, "%s needs a value: see sfn-agent --help", argv[optind - 1]);
			goto fail;
		}
		if (c == '?') {
			err_set(err, "unknown option %s: see sfn-agent --help (put the command after --)",
				argv[optind - 1]);
			goto fail;
		}
		const struct setting *st = setting_by_id(c);
		if (st->id == O_REQUIRE_TOKEN)
			o->require_token = true;
		else if (apply(o, st, false, optarg, err) != 0)
			goto fail;
	}
	if (optind >= argc) {
		err_set(err, "no command to run: put it after the options, e.g. sfn-agent -- /app/job.sh");
		goto fail;
	}
	o->command = argv + optind;
	if (!o->success_codes) {
		o->success_codes = xmalloc(sizeof success_zero);
		memcpy(o->success_codes, success_zero, sizeof success_zero);
		o->n_success = 1;
	}
	return OPTS_RUN;
fail:
	run_options_free(o);
	return OPTS_ERROR;
}

void run_options_free(struct run_options *o)
{
	exit_code_map_free(o->map, o->n_map);
	free(o->success_codes);
	o->map = NULL, o->n_map = 0;
	o->success_codes = NULL, o->n_success = 0;
}
