/* What `check` looks for in a state machine definition (Amazon States
 * Language): the mistakes that make ecs:runTask.waitForTaskToken workflows
 * hang or fail to start.  Pure: a definition in, findings out, so `check`,
 * `start` and the unit tests share it and `template` is tested against it. */
#ifndef SFN_ASL_H
#define SFN_ASL_H

#include "base/err.h"

#include <stddef.h>

enum asl_problem {
	ASL_NO_TIMEOUT,      /* no TimeoutSeconds(Path): waits up to a year */
	ASL_NO_HEARTBEAT,    /* no HeartbeatSeconds(Path): a dead container goes unnoticed */
	ASL_SHORT_HEARTBEAT, /* HeartbeatSeconds <= the agent's heartbeat period, or heartbeats off */
	ASL_NO_TOKEN,        /* no container override from $$.Task.Token */
	ASL_TOKEN_NAME,      /* the token goes in a variable the agent does not read */
	ASL_NO_NETWORK,      /* Fargate without NetworkConfiguration */
	ASL_NO_RETRY,        /* nothing retries ContainerStopped */
	ASL_NO_CATCH,        /* some of the agent's errors are not caught */
	ASL_SYNC_TASK,       /* ecs:runTask.sync: the agent runs there but cannot report */
	ASL_ERROR_NAME,      /* an ErrorEquals name that cannot match (case, "Ecs." prefix) */
	ASL_OVERRIDES_SIZE,  /* the overrides with a full-length token leave too little of RunTask's limit */
	/* What check finds in IAM (not in the definition), reported alongside. */
	ASL_IAM_RUN_TASK,    /* the state machine's role cannot ecs:RunTask the task definition */
	ASL_IAM_PASS_ROLE,   /* ... nor iam:PassRole its task or execution role */
	ASL_IAM_TASK_ROLE,   /* the task role lacks states:SendTask* */
};

/* "no-timeout", "error-name", ...: stable names for --format json. */
const char *asl_problem_name(enum asl_problem p);

/* Room RunTask's overrides must keep for what is set at run time (the
 * command, input-derived values) beyond the literal overrides and a
 * 2,048-character token. */
#define ASL_OVERRIDES_ROOM_MIN 1024

struct asl_finding {
	enum asl_problem problem;
	char *state; /* the Task state's name */
	char *text;  /* "<state>: <problem>; add <snippet>" */
};

struct asl_options {
	int agent_heartbeat_s; /* the agent's --heartbeat (60); 0: heartbeats off */
	const char *token_env; /* the agent's --token-env ("TASK_TOKEN") */
};

struct asl_report {
	struct asl_finding *findings;
	size_t n;
	size_t tasks; /* waitForTaskToken ECS Task states seen */
	size_t sync_tasks; /* ecs:runTask.sync Task states seen */
	size_t cap;        /* of findings */
};

#define ASL_DEFAULT_AGENT_HEARTBEAT 60
#define ASL_DEFAULT_TOKEN_ENV "TASK_TOKEN"

/* Walks every state, Parallel branches and Map processors included, and
 * reports each finding of each ecs:runTask.waitForTaskToken Task.  opt may be
 * NULL (the agent's defaults).  Returns 0 (out filled, possibly with no
 * findings) or -1 with err set when the definition is not a state machine. */
int asl_check(const char *definition, size_t len, const struct asl_options *opt, struct asl_report *out,
	      struct err *err);
void asl_report_free(struct asl_report *r);
/* Appends a finding found elsewhere (IAM) to r; text is copied. */
void asl_report_add(struct asl_report *r, enum asl_problem problem, const char *state, const char *text);

/* The agent's error names, in the order the findings list them. */
extern const char *const asl_agent_errors[];
extern const size_t asl_n_agent_errors;

#endif
