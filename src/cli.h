/* What the controller subcommands (start, check, template) share: option
 * parsing helpers, usage errors, and reading + checking a state machine. */
#ifndef SFN_CONTROLLER_H
#define SFN_CONTROLLER_H

#include "base/err.h"
#include "agent/asl/asl.h"
#include "agent/sfn.h"

#include <stdbool.h>
#include <stdint.h>

/* Exit statuses of the controller (SPEC section 3). */
#define CTL_OK 0
#define CTL_FINDINGS 1 /* check: findings; start: the execution did not succeed */
#define CTL_USAGE 2    /* usage or API error */
#define CTL_TIMEOUT 124

/* Prints "sfn-agent: error: <sentence>" and a usage hint for cmd on stderr;
 * returns CTL_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message for a getopt_long failure ('?' or ':' returned, optstring
 * starting with ':'); returns CTL_USAGE. */
struct option;
int ctl_bad_option(const char *cmd, int opt, char **argv, const struct option *longopts);

/* Logging as the run mode has it: SFN_AGENT_LOG_LEVEL / SFN_AGENT_LOG_FORMAT,
 * then --log-level / --log-format (NULL: not given).  0, or -1 with err. */
int ctl_log_setup(const char *level, const char *format, struct err *err);
/* True when log lines are text (a live progress line fits between them). */
bool ctl_log_is_text(void);

/* Seconds as a decimal number in [min, max]; 0 or -1. */
int ctl_parse_seconds(const char *s, double min, double max, double *out);

/* --heartbeat and --token-env of check and start: the settings of the agent in
 * the task, which the checks compare against.  0, or CTL_USAGE after one
 * sentence naming cmd. */
int ctl_set_agent_heartbeat(const char *cmd, const char *arg, struct asl_options *o);
int ctl_set_agent_token_env(const char *cmd, const char *arg, struct asl_options *o);

/* A client whose region falls back to the state machine ARN's. */
struct sfn_client *ctl_client_new(const char *arn_region, struct err *err);

/* --state-machine as given: an ARN (checked, its region in arn_region) or a
 * state machine name, to be resolved with ctl_resolve_state_machine.  0, or
 * -1 with one sentence in err.  *is_name says which. */
int ctl_state_machine_arg(const char *arg, char arn_region[32], bool *is_name, struct err *err);

/* The ARN of the state machine called name in the client's account and
 * region (ListStateMachines, every page).  0 with *arn_out malloc'd; -1
 * when none has that name (err says so, reply->outcome == SFN_OK) or when
 * the call failed (reply filled in). */
int ctl_resolve_state_machine(struct sfn_client *c, const char *name, int64_t deadline_ms, char **arn_out,
			      struct sfn_reply *reply, struct err *err);

/* Prints a refused or failed call as one sentence: the code, the message and
 * what it means ("sfn-agent: error: StartExecution: ..."). */
void ctl_report_call(const char *operation, const struct sfn_reply *r);

/* DescribeStateMachine + asl_check.  Returns 0 with report filled, or -1
 * with reply filled in (reply->outcome != SFN_OK: the call failed) or, when
 * the call worked but the definition could not be read, err set. */
int ctl_check_state_machine(struct sfn_client *c, const char *arn, const struct asl_options *opt,
			    int64_t deadline_ms, struct asl_report *report, struct sfn_reply *reply, struct err *err);


/* ---- pure helpers of `start`, unit-tested ---- */

/* 1–80 characters (UTF-8), none of: whitespace, < > { } [ ], ? *,
 * " # % \ ^ | ~ ` $ & , ; : /, control characters.  0 or -1 with err. */
int ctl_execution_name_validate(const char *name, struct err *err);

/* "sfn-agent-YYYYMMDDTHHMMSSZ-<16 hex>": sortable, and unique enough that
 * two starts in the same second never collide. */
void ctl_execution_name_generate(int64_t wall_ms, uint64_t rnd, char out[64]);

/* The first ECS task ARN (arn:...:ecs:...:task/...) in a TaskSubmitted
 * output: Tasks[0].TaskArn (any capitalisation), else any such ARN in the
 * text.  malloc'd, or NULL. */
char *ctl_task_arn_in(const char *text);

/* What one page of GetExecutionHistory (reverseOrder=true) tells. */
struct ctl_history {
	long long newest_id;  /* id of the newest event; 0 if none */
	char *state;          /* name of the newest state entered, or NULL */
	char **task_arns;     /* ECS task ARNs, newest first */
	size_t n_task_arns;
	char *error, *cause;  /* from the newest event details that carry an error */
	/* The newest task event is TaskSubmitted: Step Functions still waits on
	 * the newest task (no TaskSucceeded, TaskFailed or TaskTimedOut since). */
	bool task_waiting;
};

/* 0, or -1 when body is not a history page. */
int ctl_history_scan(const char *body, size_t len, struct ctl_history *h);
void ctl_history_free(struct ctl_history *h);

/* What DescribeTasks says of one ECS task. */
struct ctl_task_state {
	char *last_status;    /* PROVISIONING, PENDING, RUNNING, ..., STOPPED; NULL if unknown */
	char *stop_code;      /* e.g. TaskFailedToStart, EssentialContainerExited */
	char *stopped_reason;
	struct ctl_container_state {
		char *name;
		char *reason;     /* e.g. "CannotPullContainerError: ..." */
		bool has_exit_code;
		int exit_code;
	} *containers;
	size_t n_containers;
	char *failure;        /* failures[0].reason (MISSING: ECS no longer knows the task) */
	char *task_definition_arn;
};

/* Where the awslogs driver of one container writes: group, and streams
 * PREFIX/CONTAINER/TASK-ID. */
struct ctl_awslogs {
	char *container, *group, *prefix;
};

/* The containers of a DescribeTaskDefinition answer that log with awslogs
 * and a stream prefix (without one, the stream name is not knowable).
 * Returns how many (*out malloc'd), or -1 when body is not such an answer. */
int ctl_awslogs_scan(const char *body, size_t len, struct ctl_awslogs **out);
void ctl_awslogs_free(struct ctl_awslogs *a, int n);

/* 0, or -1 when body is not a DescribeTasks answer. */
int ctl_task_state_scan(const char *body, size_t len, struct ctl_task_state *t);
void ctl_task_state_free(struct ctl_task_state *t);

/* The cluster part of a long task ARN (".../task/CLUSTER/ID"), malloc'd; NULL
 * for the short form (".../task/ID": the default cluster). */
char *ctl_task_cluster(const char *task_arn);

/* start's wait for an execution, on its own: the polling of cmd_start with
 * the clock, randomness and sleeps of sys and an existing client, no
 * signals and no live line.  For unit tests with a fake clock.  Returns
 * start's exit status. */
struct ctl_start_wait_config {
	const struct sys *sys;
	struct sfn_client *client;
	const char *exec_arn;
	int64_t poll_ms;    /* --poll */
	int64_t timeout_ms; /* --timeout; 0: none */
};
int ctl_start_wait(const struct ctl_start_wait_config *cfg);

/* "12.3s", "4m05s", "2h03m04s". */
void ctl_format_elapsed(int64_t ms, char out[32]);

/* After a report was delivered: run by another agent (its command or a
 * script in it called us), leave the line "OPERATION FINGERPRINT" in the
 * file that agent named in SFN_AGENT_REPORT_MARK (mark; NULL or "": none),
 * so that it does not report the same token again and fail on
 * TaskTimedOut.  A failure is one warning: the report itself went out. */
void cli_leave_report_mark(const char *mark, const char *operation, const char *fp);

#endif
