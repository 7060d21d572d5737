/* send-success, send-failure, send-heartbeat: the lines of a script that used
 * `aws stepfunctions send-task-*`, with the same flags.
 *
 * When such a command runs under a supervising agent (SFN_AGENT_REPORT_MARK
 * is set), a delivered success or failure is noted there, so that the agent
 * does not report the same token a second time. */
#include "base/buf.h"
#include "src/cli.h"
#include "src/commands.h"
#include "base/json.h"
#include "base/log.h"
#include "base/posix.h"
#include "base/input.h"
#include "agent/creds/creds.h"
#include "agent/sfn.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define DEFAULT_DEADLINE_MS 300000

enum send_kind { SEND_SUCCESS, SEND_FAILURE, SEND_HEARTBEAT };

static const char *const op_names[] = { "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat" };
static const char *const cmd_names[] = { "send-success", "send-failure", "send-heartbeat" };

static void usage(FILE *f, enum send_kind kind)
{
	fprintf(f, "usage: sfn-agent %s [--task-token TOKEN]", cmd_names[kind]);
	if (kind == SEND_SUCCESS)
		fputs(" [--task-output VALUE]", f);
	if (kind == SEND_FAILURE)
		fputs(" [--error NAME] [--cause VALUE]", f);
	fprintf(f, "\n\nCalls Step Functions' %s as `aws stepfunctions send-task-*` does,\n"
		   "with the agent's retries, credentials and limits.  --token-env, --log-level and\n"
		   "--log-format also read SFN_AGENT_TOKEN_ENV, SFN_AGENT_LOG_LEVEL and\n"
		   "SFN_AGENT_LOG_FORMAT; the flag wins.\n\n"
		   "  --task-token TOKEN        the task token; an argument is readable by every user of\n"
		   "                            the host (/proc/PID/cmdline, ps): prefer $TASK_TOKEN\n"
		   "                            [the value of $TASK_TOKEN]\n",
		op_names[kind]);
	if (kind == SEND_SUCCESS)
		fputs("  --task-output VALUE       the output: JSON text, @FILE, file://FILE, or - for\n"
		      "                            standard input [{}]\n", f);
	if (kind == SEND_FAILURE)
		fputs("  --error NAME              the error name [none]\n"
		      "  --cause VALUE             the cause: text, @FILE, file://FILE, or - for standard\n"
		      "                            input [none]\n", f);
	fputs("  --token-env NAME          the variable that holds the token [TASK_TOKEN]\n"
	      "  --report-timeout SECONDS  how long to retry [300]\n"
	      "  --profile NAME            the AWS profile for credentials and region; the keys in\n"
	      "                            AWS_ACCESS_KEY_ID are then not used [none]\n"
	      "  --log-level LEVEL         error, warn, info or debug [info]\n"
	      "  --log-format FMT          text or json [text]\n"
	      "  -h, --help                this text\n\n"
	      "Exit status: 0 delivered, 1 refused or not delivered, 2 usage error.\n",
	      f);
}

/* "TEXT", "@FILE", "file://FILE" or "-" (standard input), as the AWS CLI
 * reads its parameters. */
static int read_value(const char *arg, const char *what, size_t max, struct buf *out, struct err *err)
{
	const char *path = NULL;
	if (strcmp(arg, "-") == 0)
		path = "/dev/stdin";
	else if (arg[0] == '@')
		path = arg + 1;
	else if (strncmp(arg, "file://", 7) == 0)
		path = arg + 7;
	if (!path) {
		buf_puts(out, arg);
		return 0;
	}
	int fd = strcmp(path, "/dev/stdin") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, "cannot read %s from %s: %s", what, path, strerror(errno));
	char chunk[65536];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof chunk)) > 0) {
		buf_append(out, chunk, (size_t)n);
		if (out->len > max)
			break;
	}
	int saved = errno;
	close(fd);
	if (n < 0)
		return err_set(err, "cannot read %s from %s: %s", what, path, strerror(saved));
	return 0;
}

static int cmd_send(enum send_kind kind, int argc, char **argv)
{
	enum { O_TOKEN = 256, O_OUTPUT, O_ERROR, O_CAUSE, O_TOKEN_ENV, O_DEADLINE, O_LOG_LEVEL, O_PROFILE,
	       O_LOG_FORMAT };
	static const struct option longopts[] = {
		{ "task-token", 1, NULL, O_TOKEN },     { "task-output", 1, NULL, O_OUTPUT },
		{ "error", 1, NULL, O_ERROR },          { "cause", 1, NULL, O_CAUSE },
		{ "token-env", 1, NULL, O_TOKEN_ENV },  { "report-timeout", 1, NULL, O_DEADLINE },
		{ "log-level", 1, NULL, O_LOG_LEVEL },  { "log-format", 1, NULL, O_LOG_FORMAT },
		{ "help", 0, NULL, 'h' },               { "profile", 1, NULL, O_PROFILE },
		{ NULL, 0, NULL, 0 },
	};
	const struct sys *sys = &sys_real;
	const char *token = NULL, *output_arg = NULL, *error = NULL, *cause_arg = NULL;
	const char *token_env = sys_env(sys, "SFN_AGENT_TOKEN_ENV");
	int64_t deadline_ms = DEFAULT_DEADLINE_MS;
	struct buf raw = BUF_INIT, value = BUF_INIT;
	struct sfn_client *sfn = NULL;
	struct sfn_reply reply = { 0 };
	struct err err;
	const char *log_level_arg = NULL, *log_format_arg = NULL;
	enum log_level level;
	enum log_format format;
	int status = EXIT_USAGE, c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout, kind);
			status = 0;
			goto out;
		case O_TOKEN: token = optarg; break;
		case O_TOKEN_ENV: token_env = optarg; break;
		case O_PROFILE:
			if (!*optarg) {
				log_error("--profile is empty: give a profile name");
				goto out;
			}
			creds_use_profile(optarg);
			break;
		case O_OUTPUT:
		case O_ERROR:
		case O_CAUSE:
			if ((c == O_OUTPUT) != (kind == SEND_SUCCESS) ||
			    (c != O_OUTPUT && kind != SEND_FAILURE)) {
				log_error("%s does not take --%s: see sfn-agent %s --help", cmd_names[kind],
					  c == O_OUTPUT ? "task-output" : c == O_ERROR ? "error" : "cause", cmd_names[kind]);
				goto out;
			}
			*(c == O_OUTPUT ? &output_arg : c == O_ERROR ? &error : &cause_arg) = optarg;
			break;
		case O_DEADLINE:
			if ((deadline_ms = seconds_parse(optarg)) <= 0) {
				log_error("--report-timeout '%s' is not valid: give a number of seconds, e.g. 60", optarg);
				goto out;
			}
			break;
		case O_LOG_LEVEL: log_level_arg = optarg; break;
		case O_LOG_FORMAT: log_format_arg = optarg; break;
		case ':':
			log_error("%s needs a value: see sfn-agent %s --help", argv[optind - 1], cmd_names[kind]);
			goto out;
		default:
			log_error("unknown option %s: see sfn-agent %s --help", argv[optind - 1], cmd_names[kind]);
			goto out;
		}
	}
	if (log_options_resolve(sys, log_level_arg, log_format_arg, &level, &format, &err) != 0) {
		log_error("%s", err.msg);
		goto out;
	}
	log_setup(level, format);
	if (optind < argc) {
		log_error("unexpected argument '%s': see sfn-agent %s --help", argv[optind], cmd_names[kind]);
		goto out;
	}
	if (!token) {
		const char *name = token_env ? token_env : "TASK_TOKEN";
		token = sys_env(sys, name);
		if (!token) {
			log_error("no task token: pass --task-token or set $%s", name);
			goto out;
		}
	}
	if (token_validate(token, &err) != 0) {
		log_error("task token: %s", err.msg);
		goto out;
	}

	/* Limits are checked before any call, so nothing is half sent. */
	if (kind == SEND_SUCCESS) {
		size_t off;
		if (read_value(output_arg ? output_arg : "{}", "the task output", OUTPUT_MAX_BYTES * 4, &raw, &err) != 0) {
			log_error("%s", err.msg);
			goto out;
		}
		if (json_compact(span_of(buf_cstr(&raw), raw.len), &value, &off) != 0) {
			log_error("--task-output is not valid JSON (at byte %zu): give one JSON value, e.g. '{\"ok\":true}'",
				  off);
			goto out;
		}
		if (value.len > OUTPUT_MAX_BYTES) {
			log_error("--task-output is %zu bytes, over Step Functions' limit of %d: write less, or store it "
				  "elsewhere (e.g. S3) and pass its location", value.len, OUTPUT_MAX_BYTES);
			goto out;
		}
	} else if (kind == SEND_FAILURE) {
		if (error && error_name_validate(error, "--error", &err) != 0) {
			log_error("%s", err.msg);
			goto out;
		}
		if (cause_arg && read_value(cause_arg, "the cause", CAUSE_MAX_BYTES, &value, &err) != 0) {
			log_error("%s", err.msg);
			goto out;
		}
		if (value.len > CAUSE_MAX_BYTES) {
			log_error("--cause is over Step Functions' limit of %d bytes: shorten it", CAUSE_MAX_BYTES);
			goto out;
		}
	}

	char fp[16];
	token_fingerprint(token, fp);
	/* The deadline covers finding the region too (task metadata, IMDS). */
	int64_t deadline = sys->mono_ms() + deadline_ms;
	struct sfn_client_config cfg = { .sys = sys, .deadline_ms = deadline };
	if (!(sfn = sfn_client_new(&cfg, &err))) {
		log_error("%s", err.msg);
		goto out;
	}
	int rc;
	if (kind == SEND_SUCCESS)
		rc = sfn_send_success(sfn, token, buf_cstr(&value), deadline, &reply);
	else if (kind == SEND_FAILURE)
		rc = sfn_send_failure(sfn, token, error ? error : "", cause_arg ? buf_cstr(&value) : NULL, deadline, &reply);
	else
		rc = sfn_send_heartbeat(sfn, token, deadline, &reply);

	if (rc == 0) {
		log_info("%s delivered for %s", op_names[kind], fp);
		if (kind != SEND_HEARTBEAT)
			cli_leave_report_mark(getenv("SFN_AGENT_REPORT_MARK"), op_names[kind], fp);
		status = 0;
	} else if (reply.outcome == SFN_NO_CREDENTIALS) {
		/* Not sent at all: the chain's sentence once, as the run mode
		 * says it ("refused" is Step Functions' answer). */
		char why[512];
		log_error("%s for %s not sent: %s", op_names[kind], fp, sfn_explain(&reply, op_names[kind], why, sizeof why));
		status = EXIT_REFUSED;
	} else {
		char why[512];
		log_error("%s for %s %s: %s%s%s (%s)", op_names[kind], fp,
			  reply.outcome == SFN_GAVE_UP ? "not delivered" : "refused", reply.code,
			  reply.code[0] ? ": " : "", reply.message, sfn_explain(&reply, op_names[kind], why, sizeof why));
		status = EXIT_REFUSED;
	}
out:
	sfn_reply_free(&reply);
	sfn_client_free(sfn);
	buf_free(&raw);
	buf_free(&value);
	return status;
}

int cmd_send_success(int argc, char **argv)
{
	return cmd_send(SEND_SUCCESS, argc, argv);
}

int cmd_send_failure(int argc, char **argv)
{
	return cmd_send(SEND_FAILURE, argc, argv);
}

int cmd_send_heartbeat(int argc, char **argv)
{
	return cmd_send(SEND_HEARTBEAT, argc, argv);
}
