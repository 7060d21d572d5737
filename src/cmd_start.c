/* sfn-agent start: starts an execution and waits for it, the way a script or
 * a CI job wants: progress on stderr, the output on stdout, and an exit
 * status that says how it ended. */
#include "base/buf.h"
#include "src/commands.h"
#include "base/contract.h"
#include "base/json.h"
#include "base/log.h"
#include "base/posix.h"
#include "base/term.h"
#include "agent/aws_json.h"
#include "agent/creds/creds.h"
#include "agent/logs.h"
#include "src/cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MAX_POLL_MS 5000      /* polling backs off to this while nothing happens */
#define CALL_MS 20000         /* one call and its retries; Ctrl-C waits at most this */
#define MAX_TASKS_SHOWN 20    /* a big Map runs thousands; the first few tell enough */
#define QUIET_REPORT_MS 60000 /* without a live line, say "still running" this often */
#define LOGS_GRACE_MS 15000   /* --logs: after the execution ends, wait this long at most for the task to stop */
#define HELP_SHOWN -1

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sfn-agent start --state-machine ARN|NAME [--input JSON|@FILE|-] [--name NAME]\n"
		"                       [--no-wait] [--timeout SECONDS] [--poll SECONDS] [--stop-on-interrupt]\n"
		"                       [--fail-fast] [--logs] [--heartbeat S] [--token-env NAME]\n"
		"\n"
		"Starts an execution (StartExecution).  With --no-wait, prints its ARN and exits.\n"
		"Otherwise checks the state machine as `sfn-agent check` does (findings are warnings),\n"
		"waits for the execution, shows progress on stderr (status, the ECS task, elapsed\n"
		"time), and prints the execution's output on stdout.  Once the execution has started\n"
		"an ECS task, its status (PROVISIONING, PENDING, RUNNING, STOPPED) is shown too\n"
		"(ecs:DescribeTasks); a task that stopped while the execution still waits on it is\n"
		"reported at once, with its stop code, reason and each container's exit code and reason.\n"
		"\n"
		"  --state-machine ARN   the state machine to start: its ARN, or its name in the account\n"
		"                        and region of the credentials (ListStateMachines) [required]\n"
		"  --input JSON          the input: JSON text, @FILE, or - for standard input [{}]\n"
		"  --name NAME           the execution name [sfn-agent-<UTC time>-<random>]\n"
		"  --no-wait             print the execution ARN and exit 0 [off]\n"
		"  --timeout SECONDS     stop waiting after this long (exit 124; the execution keeps\n"
		"                        running); 0: wait as long as it runs [0]\n"
		"  --poll SECONDS        first polling interval, at least 0.1; it grows to 5 s while\n"
		"                        nothing happens [1]\n"
		"  --stop-on-interrupt   on Ctrl-C or SIGTERM, stop the execution (StopExecution);\n"
		"                        otherwise it keeps running and the command to stop it is\n"
		"                        printed [off]\n"
		"  --fail-fast           when the ECS task stopped while the execution still waits on it,\n"
		"                        stop the execution (StopExecution, error TaskStopped) and exit 1;\n"
		"                        by default the reason is shown and start keeps waiting (a Retry\n"
		"                        may start a new task, which is followed) [off]\n"
		"  --logs                follow the container's log lines in CloudWatch Logs while the\n"
		"                        execution runs, each on stderr after \"CONTAINER| \" (the task\n"
		"                        definition's awslogs group and stream prefix) [off]\n"
		"  --heartbeat S         the agent's --heartbeat in the task, for the checks [60]\n"
		"  --token-env NAME      the agent's --token-env in the task, for the checks [TASK_TOKEN]\n"
		"  --profile NAME        the AWS profile for credentials and region; the keys in\n"
		"                        AWS_ACCESS_KEY_ID are then not used [none]\n"
		"  --log-level LEVEL     error, warn, info or debug (SFN_AGENT_LOG_LEVEL) [info]\n"
		"  --log-format FMT      text or json (SFN_AGENT_LOG_FORMAT) [text]\n"
		"  -h, --help            this text\n"
		"\n"
		"Exit status: 0 SUCCEEDED, 1 FAILED, TIMED_OUT or ABORTED, 2 usage or API error,\n"
		"124 --timeout elapsed, 128+N interrupted by signal N.\n");
}

struct start_run {
	const char *sm_arn;
	const char *input_arg;
	const char *name;
	bool no_wait, stop_on_interrupt, fail_fast, logs;
	int64_t timeout_ms; /* 0: wait forever */
	int64_t poll_ms;
	struct asl_options checks; /* what the agent in the task is told, for the checks */

	const struct sys *sys; /* clocks, randomness: a fake one in unit tests */
	struct sfn_client *client;
	struct aws_json_client *ecs; /* made when the first task is seen */
	bool ecs_off;        /* cannot watch tasks (said once) */
	bool ecs_failed;     /* a DescribeTasks failed (said once) */
	char *exec_arn;
	sigset_t signals;
	bool signals_blocked; /* waits watch for them; otherwise (unit tests) they sleep on sys */
	int64_t started_ms;
	bool live;           /* stderr is a terminal: a single line, rewritten */
	bool live_shown;
	char status[32];
	char *state;         /* the state last entered */
	char *task_arn;      /* the newest ECS task seen */
	char task_status[24]; /* its lastStatus, "" until known */
	bool task_done;      /* its stop is known (shown, or it ended normally): stop asking */
	bool task_waiting;   /* the history says Step Functions still waits on the newest task */
	struct logs_follower *log_streams; /* --logs: the streams followed, of every task seen */
	bool logs_known;     /* the newest task's streams are followed, or it has none (said) */
	bool logs_none_said, logs_failed_said;
	char **tasks_seen;
	size_t n_tasks_seen, cap_tasks_seen;
	long long newest_event;
	bool history_failed;
};

/* ---- progress on stderr ---- */

static void live_clear(struct start_run *run)
{
	if (!run->live_shown)
		return;
	static const char clear[] = "\r\033[K";
	if (write(STDERR_FILENO, clear, sizeof clear - 1) < 0)
		run->live = false;
	run->live_shown = false;
}

/* Every log line goes through here, so the live line never gets mixed in. */
#define say(run, level, ...)                       \
	do {                                     \
		live_clear(run);                   \
		log_msg(level, __VA_ARGS__);     \
	} while (0)

static void live_draw(struct start_run *run)
{
	if (!run->live)
		return;
	char el[32];
	ctl_format_elapsed(run->sys->mono_ms() - run->started_ms, el);
	struct buf line = BUF_INIT;
	/* All three come from the server: escaped, a terminal runs none of them. */
	char *status = term_escape_str(run->status[0] ? run->status : "STARTING");
	buf_printf(&line, "\r\033[Ksfn-agent: %s %s", status, el);
	free(status);
	if (run->state) {
		char *state = term_escape_str(run->state);
		buf_printf(&line, "  state %.60s", state);
		free(state);
	}
	if (run->task_arn) {
		const char *id = strrchr(run->task_arn, '/');
		char *task = term_escape_str(id ? id + 1 : run->task_arn);
		buf_printf(&line, "  task %.40s", task);
		free(task);
		if (run->task_status[0]) {
			char *task_status = term_escape_str(run->task_status);
			buf_printf(&line, " %s", task_status);
			free(task_status);
		}
	}
	/* A line wider than the terminal wraps, and \r then rewrites only its
	 * last row: keep it one row, cut on a character boundary. */
	struct winsize ws;
	size_t prefix = 4; /* "\r\033[K" */
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && line.len - prefix >= ws.ws_col) {
		size_t n = prefix + ws.ws_col - 1;
		while (n > prefix && ((unsigned char)line.data[n] & 0xC0) == 0x80)
			n--;
		line.len = n;
	}
	if (write(STDERR_FILENO, line.data, line.len) < 0)
		run->live = false;
	else
		run->live_shown = true;
	buf_free(&line);
}

static void stop_hint(struct start_run *run, enum log_level level, const char *why)
{
	const struct sys *sys = run->sys;
	say(run, level, "%s; the execution keeps running, stop it with: aws stepfunctions stop-execution "
		      "--execution-arn %s --region %s%s%s",
	    why, run->exec_arn, sfn_client_region(run->client), creds_profile_explicit() ? " --profile " : "",
	    creds_profile_explicit() ? creds_profile_name(sys) : "");
}

/* ---- options and input ---- */

static int read_fd(int fd, struct buf *out, size_t limit)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		buf_append(out, chunk, (size_t)n);
		if (out->len > limit)
			return 0;
	}
}

/* The execution input as compact JSON text, checked against the limits
 * Step Functions applies, so a mistake costs no call and no execution. */
static int load_input(const char *arg, struct buf *json, struct err *err)
{
	struct buf raw = BUF_INIT;
	/* Pretty-printed input shrinks when compacted; read somewhat more. */
	const size_t limit = 16 * INPUT_MAX_BYTES;
	int rc = -1;
	const char *what = "--input";
	if (!arg) {
		buf_puts(json, "{}");
		return 0;
	}
	if (strcmp(arg, "-") == 0) {
		what = "the input on standard input";
		if (read_fd(STDIN_FILENO, &raw, limit) != 0) {
			err_set(err, "cannot read the input from standard input: %s", strerror(errno));
			goto out;
		}
	} else if (arg[0] == '@') {
		what = "the --input file";
		int fd = open(arg + 1, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err_set(err, "cannot open --input file %s: %s; check the path", arg + 1, strerror(errno));
			goto out;
		}
		int r = read_fd(fd, &raw, limit);
		int saved = errno;
		close(fd);
		if (r != 0) {
			err_set(err, "cannot read --input file %s: %s; check the path", arg + 1, strerror(saved));
			goto out;
		}
	} else {
		buf_puts(&raw, arg);
	}
	if (raw.len > limit) {
		err_set(err, "%s is larger than %zu bytes, far above the 262,144 bytes Step Functions accepts: "
			     "pass a smaller input (for example a reference to data in S3)", what, limit);
		goto out;
	}
	size_t off = 0;
	if (json_compact(span_of(buf_cstr(&raw), raw.len), json, &off) != 0) {
		if (raw.len == 0 || strspn(buf_cstr(&raw), " \t\r\n") == raw.len)
			err_set(err, "%s is empty: pass a JSON text such as '{}'", what);
		else
			err_set(err, "%s is not valid JSON (at byte %zu): pass a JSON text such as "
				     "'{\"key\": \"value\"}'", what, off);
		goto out;
	}
	if (json->len > INPUT_MAX_BYTES) {
		err_set(err, "%s is %zu bytes of JSON, more than the 262,144 bytes Step Functions accepts: "
			     "pass a smaller input (for example a reference to data in S3)", what, json->len);
		goto out;
	}
	rc = 0;
out:
	buf_free(&raw);
	return rc;
}

static int parse_options(struct start_run *run, int argc, char **argv)
{
	enum { O_SM = 256, O_INPUT, O_NAME, O_NO_WAIT, O_TIMEOUT, O_POLL, O_STOP, O_HB, O_TOKEN_ENV, O_LOG_LEVEL,
	       O_LOG_FORMAT, O_PROFILE, O_FAIL_FAST, O_LOGS };
	static const struct option longopts[] = {
		{ "state-machine", required_argument, NULL, O_SM },
		{ "input", required_argument, NULL, O_INPUT },
		{ "name", required_argument, NULL, O_NAME },
		{ "no-wait", no_argument, NULL, O_NO_WAIT },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "poll", required_argument, NULL, O_POLL },
		{ "stop-on-interrupt", no_argument, NULL, O_STOP },
		{ "fail-fast", no_argument, NULL, O_FAIL_FAST },
		{ "logs", no_argument, NULL, O_LOGS },
		{ "heartbeat", required_argument, NULL, O_HB },
		{ "token-env", required_argument, NULL, O_TOKEN_ENV },
		{ "log-level", required_argument, NULL, O_LOG_LEVEL },
		{ "log-format", required_argument, NULL, O_LOG_FORMAT },
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double v;
	const char *log_level_arg = NULL, *log_format_arg = NULL;
	struct err err = { "" };
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SM: run->sm_arn = optarg; break;
		case O_INPUT: run->input_arg = optarg; break;
		case O_NAME: run->name = optarg; break;
		case O_NO_WAIT: run->no_wait = true; break;
		case O_STOP: run->stop_on_interrupt = true; break;
		case O_FAIL_FAST: run->fail_fast = true; break;
		case O_LOGS: run->logs = true; break;
		case O_TIMEOUT:
			if (ctl_parse_seconds(optarg, 0, 86400.0 * 366, &v) != 0)
				return ctl_usage_error("start", "--timeout %s is not a number of seconds: pass e.g. "
						   "--timeout 600, or 0 to wait as long as the execution runs", optarg);
			run->timeout_ms = (int64_t)(v * 1000);
			break;
		case O_POLL:
			if (ctl_parse_seconds(optarg, 0.1, 3600, &v) != 0)
				return ctl_usage_error("start", "--poll %s is not a number of seconds from 0.1 to "
						   "3600: pass e.g. --poll 2", optarg);
			run->poll_ms = (int64_t)(v * 1000);
			break;
		case O_HB:
			if ((rc = ctl_set_agent_heartbeat("start", optarg, &run->checks)) != 0)
				return rc;
			break;
		case O_TOKEN_ENV:
			if ((rc = ctl_set_agent_token_env("start", optarg, &run->checks)) != 0)
				return rc;
			break;
		case O_LOG_LEVEL: log_level_arg = optarg; break;
		case O_LOG_FORMAT: log_format_arg = optarg; break;
		case O_PROFILE:
			if (!*optarg)
				return ctl_usage_error("start", "--profile is empty: give a profile name");
			creds_use_profile(optarg);
			break;
		case 'h':
			usage(stdout);
			return HELP_SHOWN;
		default:
			return ctl_bad_option("start", c, argv, longopts);
		}
	}
	if (ctl_log_setup(log_level_arg, log_format_arg, &err) != 0)
		return ctl_usage_error("start", "%s", err.msg);
	if (optind < argc)
		return ctl_usage_error("start", "unexpected argument \"%s\": pass the input as --input JSON",
				       argv[optind]);
	if (!run->sm_arn)
		return ctl_usage_error("start", "no state machine given: pass --state-machine ARN");
	return 0;
}

/* ---- signals ---- */

/* Waits up to ms for SIGINT, SIGTERM or SIGHUP (blocked since the start, so
 * one that came during a call is still pending).  Returns the signal or 0. */
static int wait_signal(const struct start_run *run, int64_t ms)
{
	if (!run->signals_blocked) {
		if (ms > 0)
			run->sys->sleep_ms(ms);
		return 0;
	}
	int64_t until = run->sys->mono_ms() + (ms > 0 ? ms : 0);
	for (;;) {
		int64_t left = until - run->sys->mono_ms();
		if (left < 0)
			left = 0;
		struct timespec ts = { left / 1000, (left % 1000) * 1000000 };
		int sig = sigtimedwait(&run->signals, NULL, &ts);
		if (sig > 0)
			return sig;
		if (errno == EAGAIN)
			return 0;
		if (errno != EINTR) {
			/* Cannot wait on signals: sleep, and let them be found next time. */
			run->sys->sleep_ms(left);
			return 0;
		}
	}
}

static int interrupted(struct start_run *run, int sig)
{
	char why[96];
	snprintf(why, sizeof why, "interrupted by %s", signal_name(sig));
	if (!run->exec_arn) {
		say(run, LOG_WARN, "%s before the execution started", why);
		return 128 + sig;
	}
	if (!run->stop_on_interrupt) {
		stop_hint(run, LOG_WARN, why);
		return 128 + sig;
	}
	struct buf body = BUF_INIT;
	struct sfn_reply reply = { 0 };
	buf_puts(&body, "{\"executionArn\":");
	json_append_string(&body, span_str(run->exec_arn));
	buf_printf(&body, ",\"error\":\"sfn-agent.Interrupted\",\"cause\":\"sfn-agent start received %s "
			  "(--stop-on-interrupt)\"}", signal_name(sig));
	say(run, LOG_INFO, "%s: stopping the execution (--stop-on-interrupt)", why);
	if (sfn_call(run->client, "StopExecution", buf_cstr(&body), run->sys->mono_ms() + 15000, &reply) == 0) {
		say(run, LOG_INFO, "stopped execution %s", run->exec_arn);
	} else {
		live_clear(run);
		ctl_report_call("StopExecution", &reply);
		stop_hint(run, LOG_ERROR, "the execution was not stopped");
	}
	sfn_reply_free(&reply);
	buf_free(&body);
	return 128 + sig;
}

/* ---- the calls ---- */

static int start_execution(struct start_run *run, const char *input, const char *name)
{
	struct buf body = BUF_INIT;
	struct sfn_reply reply = { 0 };
	int rc = -1;
	buf_puts(&body, "{\"stateMachineArn\":");
	json_append_string(&body, span_str(run->sm_arn));
	buf_puts(&body, ",\"name\":");
	json_append_string(&body, span_str(name));
	buf_puts(&body, ",\"input\":");
	json_append_string(&body, span_str(input));
	buf_putc(&body, '}');
	if (sfn_call(run->client, "StartExecution", buf_cstr(&body), run->sys->mono_ms() + CALL_MS, &reply) != 0) {
		ctl_report_call("StartExecution", &reply);
		if (strcmp(reply.code, "ExecutionAlreadyExists") == 0)
			log_error("an execution named \"%s\" exists already: pass another --name, or leave --name "
				  "out to get a generated one", name);
		goto out;
	}
	cJSON *root = cJSON_ParseWithLength(reply.body.data ? reply.body.data : "", reply.body.len);
	const cJSON *arn = cJSON_GetObjectItemCaseSensitive(root, "executionArn");
	if (cJSON_IsString(arn) && *arn->valuestring) {
		run->exec_arn = xstrdup(arn->valuestring);
		rc = 0;
	} else {
		log_error("StartExecution answered without an executionArn: check that AWS_ENDPOINT_URL_SFN "
			  "points at Step Functions");
	}
	cJSON_Delete(root);
out:
	sfn_reply_free(&reply);
	buf_free(&body);
	return rc;
}

/* The findings of `check`, as warnings: worth reading while the execution
 * runs, never a reason not to run it. */
static void warn_findings(struct start_run *run)
{
	struct asl_report report = { 0 };
	struct sfn_reply reply = { 0 };
	struct err err = { "" };
	if (ctl_check_state_machine(run->client, run->sm_arn, &run->checks, run->sys->mono_ms() + 10000, &report, &reply,
				    &err) != 0) {
		if (reply.outcome == SFN_ACCESS_DENIED)
			log_debug("not checking the state machine: DescribeStateMachine is denied to these "
				  "credentials");
		else if (reply.outcome != SFN_OK)
			log_debug("not checking the state machine: DescribeStateMachine failed (%s%s%s)",
				  reply.code, reply.code[0] ? ": " : "", reply.message);
		else
			log_debug("not checking the state machine: %s", err.msg);
		goto out;
	}
	for (size_t i = 0; i < report.n; i++)
		log_warn("check: %s", report.findings[i].text);
	if (report.n)
		log_warn("check: %zu finding(s); `sfn-agent check --state-machine %s` lists them again", report.n,
			 run->sm_arn);
out:
	asl_report_free(&report);
	sfn_reply_free(&reply);
}

static bool seen_task(struct start_run *run, const char *arn)
{
	for (size_t i = 0; i < run->n_tasks_seen; i++)
		if (strcmp(run->tasks_seen[i], arn) == 0)
			return true;
	return false;
}

/* Best effort: the history only adds to the progress shown.  Returns true
 * when there are new events (something is happening: poll sooner). */
static bool follow_history(struct start_run *run, int64_t deadline_ms)
{
	struct buf body = BUF_INIT;
	struct sfn_reply reply = { 0 };
	struct ctl_history h = { 0 };
	bool moved = false;
	buf_puts(&body, "{\"executionArn\":");
	json_append_string(&body, span_str(run->exec_arn));
	buf_puts(&body, ",\"reverseOrder\":true,\"maxResults\":100}");
	if (sfn_call(run->client, "GetExecutionHistory", buf_cstr(&body), deadline_ms, &reply) != 0) {
		if (!run->history_failed)
			say(run, LOG_DEBUG, "cannot follow the execution history (%s%s%s): the ECS task will not be "
					  "shown", reply.code, reply.code[0] ? ": " : "", reply.message);
		run->history_failed = true;
		goto out;
	}
	if (ctl_history_scan(reply.body.data ? reply.body.data : "", reply.body.len, &h) != 0)
		goto out;
	moved = h.newest_id > run->newest_event;
	run->task_waiting = h.task_waiting;
	run->newest_event = h.newest_id > run->newest_event ? h.newest_id : run->newest_event;
	if (h.state && (!run->state || strcmp(h.state, run->state) != 0)) {
		say(run, LOG_DEBUG, "state %s", h.state);
		free(run->state);
		run->state = xstrdup(h.state);
	}
	/* Oldest first, so the tasks are listed in the order they started. */
	for (size_t i = h.n_task_arns; i-- > 0;) {
		const char *arn = h.task_arns[i];
		if (seen_task(run, arn))
			continue;
		if (run->n_tasks_seen < MAX_TASKS_SHOWN) {
			say(run, LOG_INFO, "ECS task %s", arn);
		} else if (run->n_tasks_seen == MAX_TASKS_SHOWN) {
			say(run, LOG_INFO, "more ECS tasks: not listing them");
		}
		run->tasks_seen = array_reserve(run->tasks_seen, run->n_tasks_seen, &run->cap_tasks_seen, sizeof *run->tasks_seen);
		run->tasks_seen[run->n_tasks_seen++] = xstrdup(arn);
		free(run->task_arn);
		run->task_arn = xstrdup(arn);
		run->task_status[0] = '\0';
		run->task_done = false;
		run->logs_known = false;
	}
out:
	ctl_history_free(&h);
	sfn_reply_free(&reply);
	buf_free(&body);
	return moved;
}

/* ---- the ECS task ---- */

static const char *task_id(const char *arn)
{
	const char *slash = strrchr(arn, '/');
	return slash ? slash + 1 : arn;
}

/* What ECS says of a stopped task, as lines on stderr and as one cause for
 * StopExecution.  Server text is escaped for the terminal; the cause is
 * JSON and keeps it as it came. */
static void show_stopped_task(struct start_run *run, const struct ctl_task_state *t, struct buf *cause)
{
	char *code = term_escape_str(t->stop_code), *why = term_escape_str(t->stopped_reason);
	say(run, LOG_WARN, "ECS task %s STOPPED while the execution still waits on it: %s%s%s", task_id(run->task_arn),
	    code[0] ? code : "(no stop code)", why[0] ? ": " : "", why);
	buf_printf(cause, "ECS task %s stopped (%s)%s%s", task_id(run->task_arn),
		   t->stop_code ? t->stop_code : "no stop code", t->stopped_reason ? ": " : "",
		   t->stopped_reason ? t->stopped_reason : "");
	free(code);
	free(why);
	for (size_t i = 0; i < t->n_containers; i++) {
		const struct ctl_container_state *c = &t->containers[i];
		char *name = term_escape_str(c->name), *reason = term_escape_str(c->reason);
		char exit_text[48] = "no exit code";
		if (c->has_exit_code)
			snprintf(exit_text, sizeof exit_text, "exit code %d", c->exit_code);
		say(run, LOG_WARN, "  container %s: %s%s%s", name[0] ? name : "(unnamed)", exit_text,
		    reason[0] ? ": " : "", reason);
		buf_printf(cause, "; container %s: %s%s%s", c->name ? c->name : "(unnamed)", exit_text,
			   c->reason ? ": " : "", c->reason ? c->reason : "");
		free(name);
		free(reason);
	}
}

/* StopExecution with error TaskStopped; the exit status of start. */
static int stop_for_task(struct start_run *run, const char *cause_text)
{
	struct buf body = BUF_INIT;
	struct sfn_reply reply = { 0 };
	int rc = CTL_FINDINGS;
	/* A cause is at most 32,768 characters; the reason fits in far less. */
	size_t n = strlen(cause_text) > 4000 ? 4000 : strlen(cause_text);
	buf_puts(&body, "{\"executionArn\":");
	json_append_string(&body, span_str(run->exec_arn));
	buf_puts(&body, ",\"error\":\"TaskStopped\",\"cause\":");
	json_append_string(&body, span_of(cause_text, n));
	buf_putc(&body, '}');
	say(run, LOG_INFO, "stopping the execution (--fail-fast)");
	if (sfn_call(run->client, "StopExecution", buf_cstr(&body), run->sys->mono_ms() + 15000, &reply) == 0) {
		char el[32];
		ctl_format_elapsed(run->sys->mono_ms() - run->started_ms, el);
		say(run, LOG_ERROR, "execution ABORTED after %s (--fail-fast): %s", el, run->exec_arn);
		char *shown = term_escape_str(cause_text);
		fprintf(stderr, "error: TaskStopped\ncause: %s\n", shown);
		free(shown);
	} else {
		live_clear(run);
		ctl_report_call("StopExecution", &reply);
		stop_hint(run, LOG_ERROR, "the execution was not stopped");
		rc = CTL_USAGE;
	}
	sfn_reply_free(&reply);
	buf_free(&body);
	return rc;
}

/* ---- --logs ---- */

static void print_log_line(void *ctx, const char *label, const char *message, size_t len)
{
	struct start_run *run = ctx;
	while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == '\r'))
		len--;
	struct buf line = BUF_INIT;
	term_escape(&line, label, strlen(label));
	buf_puts(&line, "| ");
	term_escape(&line, message, len);
	buf_putc(&line, '\n');
	live_clear(run);
	if (write_all(STDERR_FILENO, line.data, line.len) != 0)
		run->live = false;
	buf_free(&line);
}

/* The newest task's awslogs streams, from its task definition. */
static void follow_task_logs(struct start_run *run, const char *task_definition_arn, int64_t deadline_ms)
{
	struct buf body = BUF_INIT;
	struct sfn_reply reply = { 0 };
	struct ctl_awslogs *logs = NULL;
	int n = -1;
	run->logs_known = true;
	buf_puts(&body, "{\"taskDefinition\":");
	json_append_string(&body, span_str(task_definition_arn));
	buf_putc(&body, '}');
	if (aws_json_call(run->ecs, "DescribeTaskDefinition", buf_cstr(&body), deadline_ms, &reply) != 0) {
		say(run, LOG_WARN, "--logs: cannot read the task definition (DescribeTaskDefinition: %s%s%s%s)",
		    reply.code, reply.code[0] ? ": " : "", reply.message,
		    reply.outcome == SFN_ACCESS_DENIED ? "; ecs:DescribeTaskDefinition would let start find the logs" : "");
		goto out;
	}
	n = ctl_awslogs_scan(reply.body.data ? reply.body.data : "", reply.body.len, &logs);
	if (n <= 0) {
		if (!run->logs_none_said) {
			char *td = term_escape_str(task_definition_arn);
			say(run, LOG_WARN, "--logs: the task definition %s has no awslogs log configuration with a stream "
					 "prefix, so there are no log lines to follow", td);
			free(td);
		}
		run->logs_none_said = true;
		goto out;
	}
	if (!run->log_streams) {
		struct err err = { "" };
		struct aws_json_client *c = aws_json_client_new(run->sys, &aws_service_logs, sfn_client_region(run->client), &err);
		if (!c) {
			say(run, LOG_WARN, "--logs: %s", err.msg);
			goto out;
		}
		run->log_streams = logs_follower_new(c);
	}
	for (int i = 0; i < n; i++) {
		struct buf stream = BUF_INIT;
		buf_printf(&stream, "%s/%s/%s", logs[i].prefix, logs[i].container, task_id(run->task_arn));
		say(run, LOG_DEBUG, "--logs: following %s %s", logs[i].group, buf_cstr(&stream));
		logs_follower_add(run->log_streams, logs[i].group, buf_cstr(&stream), logs[i].container);
		buf_free(&stream);
	}
out:
	if (n > 0)
		ctl_awslogs_free(logs, n);
	sfn_reply_free(&reply);
	buf_free(&body);
}

/* The awslogs driver sends lines a little after they are written, and
 * flushes them before the task stops: once the execution has ended, follow
 * the logs until the task is STOPPED (or LOGS_GRACE_MS), then read once
 * more. */
static bool watch_task(struct start_run *run, int64_t deadline_ms, bool ended_already, int *rc);
static void read_logs(struct start_run *run, int64_t deadline_ms);

static void drain_logs(struct start_run *run)
{
	int64_t until = run->sys->mono_ms() + LOGS_GRACE_MS;
	for (;;) {
		int ignored;
		watch_task(run, run->sys->mono_ms() + 5000, true, &ignored);
		bool stopped = strcmp(run->task_status, "STOPPED") == 0;
		read_logs(run, run->sys->mono_ms() + 10000);
		if (!run->log_streams || stopped || run->sys->mono_ms() >= until)
			break;
		if (wait_signal(run, run->poll_ms) != 0)
			break;
	}
}

static void read_logs(struct start_run *run, int64_t deadline_ms)
{
	if (!run->log_streams)
		return;
	struct sfn_reply reply = { 0 };
	if (logs_follower_poll(run->log_streams, deadline_ms, print_log_line, run, &reply) != 0 && !run->logs_failed_said) {
		say(run, LOG_WARN, "--logs: cannot read the log lines (GetLogEvents: %s%s%s%s); asking again at the next poll",
		    reply.code, reply.code[0] ? ": " : "", reply.message,
		    reply.outcome == SFN_ACCESS_DENIED ? "; logs:GetLogEvents on the log group would let start read them" : "");
		run->logs_failed_said = true;
	}
	sfn_reply_free(&reply);
}

/* Best effort, like the history: DescribeTasks on the newest task, its
 * status on the progress line.  Returns true when --fail-fast ended the
 * wait (*rc set).  ended: the execution has ended, only the status and the
 * logs are of interest. */
static bool watch_task(struct start_run *run, int64_t deadline_ms, bool ended_already, int *rc)
{
	if (!run->task_arn || run->ecs_off || (run->task_done && (!run->logs || run->logs_known)))
		return false;
	if (!run->ecs) {
		struct err err = { "" };
		run->ecs = aws_json_client_new(run->sys, &aws_service_ecs, sfn_client_region(run->client), &err);
		if (!run->ecs) {
			say(run, LOG_WARN, "cannot watch the ECS task: %s", err.msg);
			run->ecs_off = true;
			return false;
		}
	}
	struct buf body = BUF_INIT;
	struct sfn_reply reply = { 0 };
	struct ctl_task_state t = { 0 };
	bool ended = false;
	char *cluster = ctl_task_cluster(run->task_arn);
	buf_putc(&body, '{');
	if (cluster) {
		buf_puts(&body, "\"cluster\":");
		json_append_string(&body, span_str(cluster));
		buf_putc(&body, ',');
	}
	buf_puts(&body, "\"tasks\":[");
	json_append_string(&body, span_str(run->task_arn));
	buf_puts(&body, "]}");
	if (aws_json_call(run->ecs, "DescribeTasks", buf_cstr(&body), deadline_ms, &reply) != 0) {
		if (reply.outcome == SFN_ACCESS_DENIED) {
			say(run, LOG_WARN, "cannot watch the ECS task: DescribeTasks is denied to these credentials "
					 "(ecs:DescribeTasks on the task lets start show its status and why it stopped)");
			run->ecs_off = true;
		} else if (!run->ecs_failed) {
			say(run, LOG_WARN, "cannot read the ECS task's status (DescribeTasks: %s%s%s); asking again at "
					 "the next poll", reply.code, reply.code[0] ? ": " : "", reply.message);
			run->ecs_failed = true;
		}
		goto out;
	}
	if (ctl_task_state_scan(reply.body.data ? reply.body.data : "", reply.body.len, &t) != 0 || !t.last_status) {
		if (t.failure && strcmp(t.failure, "MISSING") == 0) {
			say(run, LOG_WARN, "ECS no longer knows task %s (it keeps a stopped task for about an hour)",
			    task_id(run->task_arn));
			run->task_done = true;
		}
		goto out;
	}
	if (run->logs && !run->logs_known && t.task_definition_arn)
		follow_task_logs(run, t.task_definition_arn, deadline_ms);
	if (run->task_done)
		goto out;
	if (strcmp(t.last_status, run->task_status) != 0) {
		snprintf(run->task_status, sizeof run->task_status, "%s", t.last_status);
		char *status = term_escape_str(t.last_status);
		say(run, LOG_INFO, "ECS task %s %s", task_id(run->task_arn), status);
		free(status);
	}
	if (strcmp(t.last_status, "STOPPED") != 0 || ended_already)
		goto out;
	run->task_done = true;
	/* A task that reported stops after its report: ask the history again
	 * (read after the stop) whether Step Functions still waits on it. */
	char *arn = xstrdup(run->task_arn);
	follow_history(run, deadline_ms);
	bool same = strcmp(arn, run->task_arn) == 0;
	free(arn);
	if (!same || !run->task_waiting)
		goto out;
	struct buf cause = BUF_INIT;
	show_stopped_task(run, &t, &cause);
	if (run->fail_fast) {
		*rc = stop_for_task(run, buf_cstr(&cause));
		ended = true;
	} else {
		say(run, LOG_WARN, "the execution keeps waiting on this task until its HeartbeatSeconds or TimeoutSeconds "
				 "(a Retry starts a new one); --fail-fast would stop it now");
	}
	buf_free(&cause);
out:
	free(cluster);
	ctl_task_state_free(&t);
	sfn_reply_free(&reply);
	buf_free(&body);
	return ended;
}

/* Error and cause of an execution that did not succeed: DescribeExecution
 * has them for FAILED; otherwise the newest history event that carries one. */
static int report_failure(struct start_run *run, const cJSON *desc)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(desc, "error");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(desc, "cause");
	char *error = cJSON_IsString(e) ? xstrdup(e->valuestring) : NULL;
	char *cause = cJSON_IsString(c) ? xstrdup(c->valuestring) : NULL;
	if (!error) {
		struct buf body = BUF_INIT;
		struct sfn_reply reply = { 0 };
		struct ctl_history h = { 0 };
		buf_puts(&body, "{\"executionArn\":");
		json_append_string(&body, span_str(run->exec_arn));
		buf_puts(&body, ",\"reverseOrder\":true,\"maxResults\":100}");
		if (sfn_call(run->client, "GetExecutionHistory", buf_cstr(&body), run->sys->mono_ms() + 10000, &reply) ==
			    0 &&
		    ctl_history_scan(reply.body.data ? reply.body.data : "", reply.body.len, &h) == 0 && h.error) {
			error = h.error, h.error = NULL;
			free(cause);
			cause = h.cause, h.cause = NULL;
		}
		ctl_history_free(&h);
		sfn_reply_free(&reply);
		buf_free(&body);
	}
	/* Timeouts and stops often carry neither: say what the status means. */
	if (!error && !cause && strcmp(run->status, "TIMED_OUT") == 0)
		cause = xstrdup("(none given: the execution ran longer than the state machine's TimeoutSeconds)");
	else if (!error && !cause && strcmp(run->status, "ABORTED") == 0)
		cause = xstrdup("(none given: the execution was stopped with StopExecution)");
	char el[32];
	ctl_format_elapsed(run->sys->mono_ms() - run->started_ms, el);
	say(run, LOG_ERROR, "execution %s after %s: %s", run->status, el, run->exec_arn);
	/* The user asked for this execution's result: error and cause are it,
	 * printed as such (not log lines), like the output on success. */
	char *error_shown = term_escape_str(error ? error : "(none given)");
	char *cause_shown = term_escape_str(cause ? cause : "(none given)");
	fprintf(stderr, "error: %s\ncause: %s\n", error_shown, cause_shown);
	free(error_shown);
	free(cause_shown);
	free(error);
	free(cause);
	return CTL_FINDINGS;
}

static bool terminal_status(const char *status)
{
	return strcmp(status, "SUCCEEDED") == 0 || strcmp(status, "FAILED") == 0 || strcmp(status, "TIMED_OUT") == 0 ||
	       strcmp(status, "ABORTED") == 0;
}

static int wait_execution(struct start_run *run)
{
	struct buf body = BUF_INIT;
	struct sfn_reply reply = { 0 };
	cJSON *desc = NULL;
	int64_t interval = run->poll_ms;
	int64_t deadline = run->timeout_ms ? run->started_ms + run->timeout_ms : 0;
	int64_t last_report = run->started_ms;
	int rc = CTL_USAGE, sig;
	char el[32];

	buf_puts(&body, "{\"executionArn\":");
	json_append_string(&body, span_str(run->exec_arn));
	buf_putc(&body, '}');
	for (;;) {
		int64_t now = run->sys->mono_ms();
		int64_t call_deadline = now + CALL_MS;
		if (deadline && call_deadline > deadline)
			call_deadline = deadline;
		cJSON_Delete(desc);
		desc = NULL;
		int call_rc = sfn_call(run->client, "DescribeExecution", buf_cstr(&body), call_deadline, &reply);
		/* Reads may lag the write that created the execution for a moment. */
		if (call_rc != 0 && strcmp(reply.code, "ExecutionDoesNotExist") == 0 &&
		    run->sys->mono_ms() - run->started_ms < 10000) {
			say(run, LOG_DEBUG, "DescribeExecution does not know the new execution yet; asking again");
			goto next_poll;
		}
		if (call_rc != 0) {
			if ((sig = wait_signal(run, 0)) != 0) {
				rc = interrupted(run, sig);
				goto out;
			}
			if (deadline && run->sys->mono_ms() >= deadline)
				goto timed_out;
			live_clear(run);
			ctl_report_call("DescribeExecution", &reply);
			stop_hint(run, LOG_ERROR, "cannot follow the execution");
			goto out;
		}
		desc = cJSON_ParseWithLength(reply.body.data ? reply.body.data : "", reply.body.len);
		const cJSON *status = cJSON_GetObjectItemCaseSensitive(desc, "status");
		if (!cJSON_IsString(status)) {
			say(run, LOG_ERROR, "DescribeExecution answered without a status: check that "
					  "AWS_ENDPOINT_URL_SFN points at Step Functions");
			goto out;
		}
		bool changed = strcmp(status->valuestring, run->status) != 0;
		if (changed) {
			snprintf(run->status, sizeof run->status, "%s", status->valuestring);
			ctl_format_elapsed(run->sys->mono_ms() - run->started_ms, el);
			if (!terminal_status(run->status))
				say(run, LOG_INFO, "%s (%s)", run->status, el);
		}
		if (terminal_status(run->status)) {
			/* A short run ends between two polls: show its task all the same. */
			follow_history(run, run->sys->mono_ms() + 5000);
			if (run->logs)
				drain_logs(run);
			break;
		}
		if (follow_history(run, call_deadline) || changed)
			interval = run->poll_ms;
		if (watch_task(run, call_deadline, false, &rc))
			goto out;
		read_logs(run, call_deadline);
next_poll:
		if ((sig = wait_signal(run, 0)) != 0) {
			rc = interrupted(run, sig);
			goto out;
		}
		if (deadline && run->sys->mono_ms() >= deadline)
			goto timed_out;
		if (!run->live && run->sys->mono_ms() - last_report >= QUIET_REPORT_MS) {
			ctl_format_elapsed(run->sys->mono_ms() - run->started_ms, el);
			say(run, LOG_INFO, "still %s after %s", run->status[0] ? run->status : "STARTING", el);
			last_report = run->sys->mono_ms();
		}

		/* Never sooner than --poll; a little jitter so that many waiters
		 * started together do not call in step. */
		int64_t sleep = interval + (int64_t)(run->sys->random() % (uint32_t)(interval / 5 + 1));
		int64_t wake = run->sys->mono_ms() + sleep;
		if (deadline && wake > deadline)
			wake = deadline;
		for (;;) {
			live_draw(run);
			int64_t left = wake - run->sys->mono_ms();
			if (left <= 0)
				break;
			/* A live line shows the seconds going by. */
			if ((sig = wait_signal(run, run->live && left > 1000 ? 1000 : left)) != 0) {
				rc = interrupted(run, sig);
				goto out;
			}
		}
		interval = interval * 3 / 2;
		int64_t cap = run->poll_ms > MAX_POLL_MS ? run->poll_ms : MAX_POLL_MS;
		if (interval > cap)
			interval = cap;
	}

	ctl_format_elapsed(run->sys->mono_ms() - run->started_ms, el);
	if (strcmp(run->status, "SUCCEEDED") != 0) {
		rc = report_failure(run, desc);
		goto out;
	}
	say(run, LOG_INFO, "SUCCEEDED after %s", el);
	const cJSON *output = cJSON_GetObjectItemCaseSensitive(desc, "output");
	if (!cJSON_IsString(output)) {
		log_warn("DescribeExecution returned no output for this execution (it may be too large or "
			 "hidden from these credentials): read it in the console");
		rc = CTL_OK;
		goto out;
	}
	if (write_all(STDOUT_FILENO, output->valuestring, strlen(output->valuestring)) != 0 ||
	    write_all(STDOUT_FILENO, "\n", 1) != 0) {
		log_error("cannot write the output to standard output: %s; check where it is redirected",
			  strerror(errno));
		rc = CTL_USAGE;
		goto out;
	}
	rc = CTL_OK;
	goto out;

timed_out:
	ctl_format_elapsed(run->timeout_ms, el);
	char why[96];
	snprintf(why, sizeof why, "still %s after %s (--timeout)", run->status[0] ? run->status : "starting", el);
	stop_hint(run, LOG_ERROR, why);
	rc = CTL_TIMEOUT;
out:
	live_clear(run);
	cJSON_Delete(desc);
	sfn_reply_free(&reply);
	buf_free(&body);
	return rc;
}

int ctl_start_wait(const struct ctl_start_wait_config *cfg)
{
	struct start_run run = { 0 };
	run.sys = cfg->sys;
	run.client = cfg->client;
	run.exec_arn = xstrdup(cfg->exec_arn);
	run.poll_ms = cfg->poll_ms;
	run.timeout_ms = cfg->timeout_ms;
	run.started_ms = run.sys->mono_ms();
	sigemptyset(&run.signals);
	int rc = wait_execution(&run);
	for (size_t i = 0; i < run.n_tasks_seen; i++)
		free(run.tasks_seen[i]);
	free(run.tasks_seen);
	free(run.task_arn);
	free(run.state);
	free(run.exec_arn);
	aws_json_client_free(run.ecs);
	return rc;
}

int cmd_start(int argc, char **argv)
{
	struct start_run run = { 0 };
	struct err err = { "" };
	struct buf input = BUF_INIT;
	char sm_region[32];
	bool sm_is_name;
	char *resolved_arn = NULL;
	char name[64];
	int rc;

	run.poll_ms = 1000;
	run.sys = &sys_real;
	run.checks = (struct asl_options){ ASL_DEFAULT_AGENT_HEARTBEAT, ASL_DEFAULT_TOKEN_ENV };
	if ((rc = parse_options(&run, argc, argv)) != 0)
		return rc == HELP_SHOWN ? CTL_OK : rc;
	if (ctl_state_machine_arg(run.sm_arn, sm_region, &sm_is_name, &err) != 0)
		return ctl_usage_error("start", "%s", err.msg);
	if (run.name && ctl_execution_name_validate(run.name, &err) != 0)
		return ctl_usage_error("start", "%s", err.msg);
	if (load_input(run.input_arg, &input, &err) != 0) {
		buf_free(&input);
		return ctl_usage_error("start", "%s", err.msg);
	}
	if (!run.name) {
		uint64_t rnd;
		if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
			rnd = (uint64_t)run.sys->random() << 32 | run.sys->random();
		ctl_execution_name_generate(run.sys->wall_ms(), rnd, name);
	} else {
		snprintf(name, sizeof name, "%s", run.name);
	}

	/* From here on Ctrl-C is an event the loop reads, not a kill: once
	 * StartExecution is sent, whatever happens must end with the ARN said. */
	sigemptyset(&run.signals);
	sigaddset(&run.signals, SIGINT);
	sigaddset(&run.signals, SIGTERM);
	sigaddset(&run.signals, SIGHUP);
	run.signals_blocked = true;
	if (sigprocmask(SIG_BLOCK, &run.signals, NULL) != 0) {
		log_error("cannot block SIGINT and SIGTERM: %s", strerror(errno));
		buf_free(&input);
		return CTL_USAGE;
	}
	run.live = isatty(STDERR_FILENO) && log_enabled(LOG_INFO) && ctl_log_is_text();

	rc = CTL_USAGE;
	run.client = ctl_client_new(sm_region, &err);
	if (!run.client) {
		log_error("%s", err.msg);
		goto out;
	}
	if (sm_is_name) {
		struct sfn_reply reply = { 0 };
		int resolved = ctl_resolve_state_machine(run.client, run.sm_arn, run.sys->mono_ms() + CALL_MS, &resolved_arn,
							 &reply, &err);
		if (resolved != 0 && reply.outcome != SFN_OK)
			ctl_report_call("ListStateMachines", &reply);
		else if (resolved != 0)
			log_error("%s", err.msg);
		sfn_reply_free(&reply);
		if (resolved != 0)
			goto out;
		run.sm_arn = resolved_arn;
	}
	if (start_execution(&run, buf_cstr(&input), name) != 0)
		goto out;
	run.started_ms = run.sys->mono_ms();
	if (run.no_wait) {
		log_info("started execution %s", run.exec_arn);
		printf("%s\n", run.exec_arn);
		rc = fflush(stdout) == 0 ? CTL_OK : CTL_USAGE;
		goto out;
	}
	log_info("started execution %s", run.exec_arn);
	int sig = wait_signal(&run, 0);
	if (sig) {
		rc = interrupted(&run, sig);
		goto out;
	}
	warn_findings(&run);
	rc = wait_execution(&run);
out:
	for (size_t i = 0; i < run.n_tasks_seen; i++)
		free(run.tasks_seen[i]);
	free(run.tasks_seen);
	free(run.task_arn);
	free(run.state);
	free(run.exec_arn);
	free(resolved_arn);
	logs_follower_free(run.log_streams);
	aws_json_client_free(run.ecs);
	sfn_client_free(run.client);
	buf_free(&input);
	/* The mask stays: unblocking now would let a second Ctrl-C that came
	 * during the last call kill the process before it exits with rc. */
	return rc;
}
