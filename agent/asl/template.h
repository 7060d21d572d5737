/* The state machine `template` prints: an ecs:runTask.waitForTaskToken Task
 * wired for the agent, as Amazon States Language or as a CloudFormation
 * template with the roles it needs.  Pure (options in, text out), so the unit
 * tests can hold its output against asl_check(). */
#ifndef SFN_TEMPLATE_H
#define SFN_TEMPLATE_H

#include "base/buf.h"
#include "base/err.h"

#include <stdbool.h>

#define TEMPLATE_DEFAULT_HEARTBEAT 300 /* 5 agent heartbeats: one lost call is no timeout */
#define TEMPLATE_DEFAULT_TIMEOUT 3600

struct template_opts {
	const char *cluster;         /* name or ARN */
	const char *task_definition; /* family, family:revision or ARN */
	const char *container;       /* the container whose ENTRYPOINT is the agent */
	const char *subnets;         /* comma-separated; required for FARGATE */
	const char *security_groups; /* comma-separated; may be NULL */
	const char *launch_type;     /* "FARGATE" (NULL) or "EC2" */
	int heartbeat_s;             /* HeartbeatSeconds; 0: default */
	int timeout_s;               /* TimeoutSeconds; 0: default */
	bool assign_public_ip;
	/* CloudFormation only: an EventBridge Scheduler expression ("rate(1 day)",
	 * "cron(0 3 * * ? *)", "at(...)") that starts the state machine with
	 * {"commands": <schedule_commands>} ({} when NULL: the container's own
	 * command).  NULL: no schedule. */
	const char *schedule;
	const char *schedule_commands; /* a JSON array of strings */
};

/* Checks --schedule and --commands before any template is made: 0, or -1
 * with one sentence in err. */
int template_schedule_validate(const char *schedule, const char *commands, struct err *err);

/* Appends the definition (2-space indented JSON, newline-terminated) to out.
 * 0, or -1 with err set when the options cannot make a working machine. */
int template_asl(const struct template_opts *o, struct buf *out, struct err *err);
int template_cloudformation(const struct template_opts *o, struct buf *out, struct err *err);

#endif
