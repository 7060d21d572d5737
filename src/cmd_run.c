/* The run mode: where the two halves meet.  wrapper/ runs the command and
 * says what happened; agent/ tells Step Functions.  The life of a run reads
 * top to bottom in cmd_run(): parse, configure, check the token, first
 * heartbeat, supervise, decide, report, exit. */
#include "agent/region.h"
#include "agent/sfn.h"
#include "wrapper/result.h"
#include "wrapper/supervise.h"
#include "base/buf.h"
#include "src/cli.h"
#include "src/commands.h"
#include "base/json.h"
#include "base/log.h"
#include "base/posix.h"
#include "src/opts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_AGENT 125
#define FIRST_HEARTBEAT_BUDGET_MS 5000
/* After a stop (SIGTERM/SIGINT) the report must fit in ECS's 30 s
 * stopTimeout: 20 s of default grace leaves this much. */
#define REPORT_AFTER_STOP_MS 8000
/* One heartbeat may hold up the event loop (output relay, signal
 * forwarding) for at most this long. */
#define HEARTBEAT_CALL_MS 5000

struct run {
	struct run_options opt;
	const struct sys *sys;
	struct sys sys_own;    /* sys_real, with sleeps a stop signal cuts short */
	const char *token;     /* NULL: no token, nothing is sent */
	char fp[16];           /* the token's fingerprint, for logs */
	struct sfn_client *sfn;
	char *task_arn;
	bool token_lost;
	int hb_failures;       /* consecutive transient heartbeat failures */
	int64_t hb_due;        /* when the next regular heartbeat is due (monotonic ms) */
};

/* A SIGTERM or SIGINT while the final report is retried (the command has
 * exited; ECS will SIGKILL in 30 s): the report then gets
 * REPORT_AFTER_STOP_MS from the signal, not the rest of --report-timeout.
 * The Step Functions client asks report_deadline_now before and during
 * each attempt, and sleeps between attempts through report_sleep_ms. */
static struct {
	bool watching; /* only around the final report: the loop reads signals itself */
	int sig;
	int64_t deadline;
} report_stop = { false, 0, -1 };

static void report_stop_seen(int sig)
{
	if (!sig || report_stop.sig)
		return;
	report_stop.sig = sig;
	report_stop.deadline = sys_real.mono_ms() + REPORT_AFTER_STOP_MS;
	log_info("received %s during the report: %d s left to deliver it", signal_name(sig),
		 REPORT_AFTER_STOP_MS / 1000);
}

static int64_t report_deadline_now(void *ctx)
{
	(void)ctx;
	if (report_stop.watching)
		report_stop_seen(supervise_pending_stop());
	return report_stop.deadline;
}

static void report_sleep_ms(int64_t ms)
{
	if (report_stop.watching && !report_stop.sig)
		report_stop_seen(supervise_wait_stop(ms));
	else
		sys_real.sleep_ms(ms);
}

static int64_t jitter(const struct run *r, int64_t period)
{
	/* Up to 10% early, so that many agents started together drift apart
	 * and no heartbeat is ever later than the period. */
	int64_t span = period / 10;
	return span > 0 ? period - (int64_t)(r->sys->random() % (uint64_t)span) : period;
}

static void log_refusal(const char *op, const struct sfn_reply *reply)
{
	char why[512];
	sfn_explain(reply, op, why, sizeof why);
	/* A TLS, endpoint or credentials problem: no server refused anything,
	 * and the explanation already quotes the message. */
	bool local = reply->local != SFN_LOCAL_NONE;
	if (local && reply->message[0] && strstr(why, reply->message)) {
		log_error("%s not sent: %s", op, why);
		return;
	}
	log_error("%s refused: %s%s%s (%s)", op, reply->code[0] ? reply->code : "", reply->code[0] ? ": " : "",
		  reply->message, why);
}

/* What went wrong with a call that was retried to no avail, for "not
 * delivered (...)": an error answer may carry a code and no message (or
 * neither), and an empty reason helps nobody. */
static const char *failure_what(const struct sfn_reply *reply, char *out, size_t size)
{
	if (reply->code[0] && reply->message[0])
		snprintf(out, size, "%s: %s", reply->code, reply->message);
	else if (reply->code[0] || reply->message[0])
		snprintf(out, size, "%s", reply->code[0] ? reply->code : reply->message);
	else if (reply->http_status)
		snprintf(out, size, "HTTP %ld", reply->http_status);
	else
		snprintf(out, size, "no answer");
	return out;
}

/* The heartbeat tick, called from the supervisor's event loop. */
static int64_t heartbeat_tick(void *ctx, int64_t now, bool *stop)
{
	struct run *r = ctx;
	struct sfn_reply reply = { 0 };
	/* Each regular heartbeat is due a jittered period after the last one was
	 * due, not after the loop got round to it: the loop's delays then do not
	 * add up period after period.  A retry fires before that and leaves it. */
	if (now >= r->hb_due) {
		r->hb_due += jitter(r, r->opt.heartbeat_ms);
		if (r->hb_due <= now) /* far behind (a long call): start afresh */
			r->hb_due = now + jitter(r, r->opt.heartbeat_ms);
	}
	int64_t next = r->hb_due;

	if (sfn_send_heartbeat(r->sfn, r->token, now + HEARTBEAT_CALL_MS, &reply) == 0) {
		log_debug("heartbeat sent for %s", r->fp);
		r->hb_failures = 0;
		goto out;
	}
	switch (reply.outcome) {
	case SFN_TOKEN_DEAD:
		r->token_lost = true;
		log_refusal("SendTaskHeartbeat", &reply);
		if (r->opt.on_token_lost == LOST_TERMINATE) {
			log_info("the workflow no longer waits for this task: stopping the command, no result will be sent");
			*stop = true;
		} else {
			log_info("the workflow no longer waits for this task: the command goes on (--on-token-lost continue)");
		}
		next = -1;
		break;
	case SFN_GAVE_UP: {
		/* Try again sooner than the period, but never past the next
		 * regular heartbeat. */
		int64_t retry = now + ((int64_t)1000 << (r->hb_failures < 5 ? r->hb_failures : 5));
		r->hb_failures++;
		char what[768];
		log_warn("heartbeat not delivered (%s); trying again", failure_what(&reply, what, sizeof what));
		if (retry < next)
			next = retry;
		break;
	}
	default:
		log_refusal("SendTaskHeartbeat", &reply);
		break;
	}
out:
	sfn_reply_free(&reply);
	return next;
}

/* Whether a refused first heartbeat means no result could ever be reported:
 * a dead token, refused or missing credentials, and a certificate nobody
 * trusts or an endpoint URL curl cannot use, which will not heal while the
 * command runs.  Access denied to heartbeats alone still lets the result
 * through. */
static bool hopeless(const struct sfn_reply *reply)
{
	switch (reply->outcome) {
	case SFN_TOKEN_DEAD:
	case SFN_AUTH_FAILED:
	case SFN_NO_CREDENTIALS:
		return true;
	case SFN_REFUSED:
		switch (reply->local) {
		case SFN_LOCAL_TLS:
		case SFN_LOCAL_ENDPOINT:
			return true;
		default:
			return false;
		}
	default:
		return false;
	}
}

/* The first heartbeat, before the command starts: when nothing could ever be
 * reported, the command must not run at all. */
static int first_heartbeat(struct run *r)
{
	struct sfn_reply reply = { 0 };
	char what[768];
	int rc = 0;
	if (sfn_send_heartbeat(r->sfn, r->token, r->sys->mono_ms() + FIRST_HEARTBEAT_BUDGET_MS, &reply) == 0) {
		log_debug("first heartbeat accepted");
	} else if (reply.outcome == SFN_GAVE_UP) {
		log_warn("Step Functions could not be reached (%s); starting the command anyway and trying again "
			 "in the background", failure_what(&reply, what, sizeof what));
	} else {
		log_refusal("SendTaskHeartbeat", &reply);
		if (hopeless(&reply)) {
			log_error("not starting the command: no result could ever be reported for this token");
			rc = -1;
		}
	}
	sfn_reply_free(&reply);
	return rc;
}

static void print_would_send(const struct report *rep)
{
	struct buf line = BUF_INIT;
	bool full = log_enabled(LOG_DEBUG);
	if (rep->success) {
		buf_printf(&line, "{\"operation\":\"SendTaskSuccess\",\"outputBytes\":%zu", rep->output.len);
		if (full)
			buf_printf(&line, ",\"output\":%s", buf_cstr(&rep->output));
	} else {
		buf_puts(&line, "{\"operation\":\"SendTaskFailure\",\"error\":");
		json_append_string(&line, span_str(rep->error));
		buf_printf(&line, ",\"causeBytes\":%zu", rep->cause.len);
		if (full)
			buf_printf(&line, ",\"cause\":%s", buf_cstr(&rep->cause));
	}
	buf_putc(&line, '}');
	log_raw_json(LOG_INFO, "no task token, so no result is sent; the report would be", line.data);
	buf_free(&line);
}

/* The one final report.  Returns 0 when Step Functions has it (or most
 * probably has it), -1 otherwise. */
static int deliver(struct run *r, const struct report *rep, int64_t deadline)
{
	const char *op = rep->success ? "SendTaskSuccess" : "SendTaskFailure";
	struct sfn_reply reply = { 0 };
	int rc;

	if (rep->success) {
		log_info("reporting success for %s (%zu bytes of output)", r->fp, rep->output.len);
		log_debug("output: %s", buf_cstr(&rep->output));
		rc = sfn_send_success(r->sfn, r->token, buf_cstr(&rep->output), deadline, &reply);
	} else {
		log_info("reporting failure %s for %s", rep->error, r->fp);
		log_debug("cause: %s", buf_cstr(&rep->cause));
		rc = sfn_send_failure(r->sfn, r->token, rep->error, buf_cstr(&rep->cause), deadline, &reply);
	}
	if (rc == 0) {
		log_info("%s delivered (%d attempt%s)", op, reply.attempts, reply.attempts == 1 ? "" : "s");
	} else if (reply.outcome == SFN_TOKEN_DEAD && reply.maybe_delivered) {
		/* An earlier attempt timed out after sending; the token being
		 * spent now is the sign that it arrived. */
		log_info("%s: an earlier attempt probably delivered it (Step Functions now answers %s for the token)",
			 op, reply.code);
		rc = 0;
	} else if (reply.outcome == SFN_GAVE_UP) {
		char what[768];
		log_error("%s not delivered: %s; gave up after %d attempts", op, failure_what(&reply, what, sizeof what),
			  reply.attempts);
	} else {
		log_refusal(op, &reply);
	}
	sfn_reply_free(&reply);
	return rc;
}

static bool reported_by_command(const struct run *r, const struct command_result *res)
{
	return r->token && res->report_mark.len && strstr(buf_cstr(&res->report_mark), r->fp);
}

static int setup(struct run *r, int argc, char **argv)
{
	struct err err;
	enum opts_status parsed = run_options_parse(argc, argv, r->sys, &r->opt, &err);
	if (parsed == OPTS_EXIT)
		return 1;
	if (parsed == OPTS_ERROR) {
		log_error("%s", err.msg);
		return -1;
	}
	log_setup(r->opt.log_level, r->opt.log_format);

	r->token = sys_env(r->sys, r->opt.token_env);
	if (!r->token) {
		if (r->opt.require_token) {
			log_error("$%s is unset or empty and --require-token is set: pass the token in the task's "
				  "ContainerOverrides (\"Value.$\": \"$$.Task.Token\")", r->opt.token_env);
			return -1;
		}
		log_info("no task token in $%s: the command runs, and no result will be sent", r->opt.token_env);
		return 0;
	}
	if (token_validate(r->token, &err) != 0) {
		log_error("$%s: %s", r->opt.token_env, err.msg);
		return -1;
	}
	token_fingerprint(r->token, r->fp);
	log_secret(LOG_SECRET_TASK_TOKEN, r->token, r->fp); /* the command may print it */

	struct sfn_client_config cfg = { .sys = r->sys, .deadline_now = report_deadline_now };
	r->sfn = sfn_client_new(&cfg, &err);
	if (!r->sfn) {
		log_error("%s", err.msg);
		return -1;
	}
	if (sys_env(r->sys, "ECS_CONTAINER_METADATA_URI_V4"))
		r->task_arn = ecs_task_arn(r->sys, sfn_client_http(r->sfn));
	log_debug("task %s: endpoint %s", r->fp, sfn_client_endpoint(r->sfn));
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct run r = { .sys_own = sys_real };
	r.sys_own.sleep_ms = report_sleep_ms;
	r.sys = &r.sys_own;
	struct command_result res = { 0 };
	struct report rep = { 0 };
	struct err err;
	int status = EXIT_AGENT;

	/* Before anything else, so that no SIGTERM is lost before the loop. */
	if (supervise_prepare(&err) != 0) {
		log_error("%s", err.msg);
		return EXIT_AGENT;
	}
	int set_up = setup(&r, argc, argv);
	if (set_up != 0) {
		status = set_up > 0 ? 0 : EXIT_AGENT;
		goto out;
	}
	if (r.token && r.opt.heartbeat_ms && first_heartbeat(&r) != 0)
		goto out;
	/* Only now: a token refused by the first heartbeat never runs the command. */
	if (r.token)
		log_info("task %s: running %s (heartbeat %s, endpoint %s)", r.fp, r.opt.command[0],
			 r.opt.heartbeat_ms ? "on" : "off", sfn_client_endpoint(r.sfn));

	struct supervise_config sc = {
		.sys = r.sys,
		.argv = r.opt.command,
		.timeout_ms = r.opt.timeout_ms,
		.grace_ms = r.opt.grace_ms,
		.signal_target = r.opt.signal_target,
		.tick = { &r, heartbeat_tick, -1 },
		.stdout_keep = SUPERVISE_STDOUT_KEEP,
		.stderr_keep = SUPERVISE_STDERR_KEEP,
	};
	if (r.token && r.opt.heartbeat_ms)
		sc.tick.next_ms = r.hb_due = r.sys->mono_ms() + jitter(&r, r.opt.heartbeat_ms);
	struct result_policy pol = {
		.output_mode = r.opt.output,
		.error_name = r.opt.error_name,
		.map = r.opt.map,
		.n_map = r.opt.n_map,
		.success_codes = r.opt.success_codes,
		.n_success = r.opt.n_success,
		.task_arn = r.task_arn,
	};
	if (supervise_run(&sc, &res, &err) != 0) {
		/* No pipe, descriptor or process left for the command.  Step
		 * Functions may already hold the token: the workflow must hear
		 * it now, not at HeartbeatSeconds. */
		log_error("%s", err.msg);
		result_agent_failed(err.msg, &pol, &rep);
	} else {
		result_decide(&res, &pol, &rep);
		log_info("%s", rep.message);
	}
	status = rep.exit_status;

	if (!r.token) {
		print_would_send(&rep);
	} else if (r.token_lost && r.opt.on_token_lost == LOST_TERMINATE) {
		log_info("not reporting: the workflow gave up on task %s", r.fp);
	} else if (reported_by_command(&r, &res)) {
		log_info("the command reported task %s itself; not reporting again", r.fp);
	} else {
		int64_t now = r.sys->mono_ms();
		int64_t deadline = now + r.opt.report_timeout_ms;
		if ((res.stop == STOP_SIGNAL || res.agent_signal) && now + REPORT_AFTER_STOP_MS < deadline)
			deadline = now + REPORT_AFTER_STOP_MS;
		report_stop.watching = true;
		int delivered = deliver(&r, &rep, deadline);
		report_stop.watching = false;
		if (delivered == 0)
			cli_leave_report_mark(sys_env(r.sys, "SFN_AGENT_REPORT_MARK"),
					      rep.success ? "SendTaskSuccess" : "SendTaskFailure", r.fp);
		else if (rep.success)
			status = 1;
	}
	log_info("exit status %d", status);
out:
	report_free(&rep);
	command_result_free(&res);
	sfn_client_free(r.sfn);
	free(r.task_arn);
	run_options_free(&r.opt);
	return status;
}
