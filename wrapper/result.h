/* From a finished command to the one report: success with output, or
 * failure with an error name and a cause. */
#ifndef SFN_RESULT_H
#define SFN_RESULT_H

#include "base/buf.h"
#include "base/posix.h"
#include "base/err.h"
#include "base/contract.h"
#include "base/input.h"
#include "wrapper/output.h"
#include "wrapper/supervise.h"

#include <stdbool.h>


struct exit_code_map {
	int code;
	char *error;
};

struct result_policy {
	enum output_mode output_mode;
	const char *error_name; /* --error */
	struct exit_code_map *map;
	size_t n_map;
	const int *success_codes;
	size_t n_success;
	const char *task_arn; /* from ECS metadata, or NULL */
};

/* Parses "3=RetryableError,4=BadInput".  -1 with err naming the bad entry. */
int exit_code_map_parse(const char *s, struct exit_code_map **map, size_t *n, struct err *err);
void exit_code_map_free(struct exit_code_map *map, size_t n);
/* Parses "0,143".  -1 with err. */
int success_codes_parse(const char *s, int **codes, size_t *n, struct err *err);

struct report {
	bool success;
	struct buf output;  /* compact JSON, when success */
	char error[ERROR_NAME_MAX * 4 + 1]; /* 256 characters of up to 4 UTF-8 bytes */
	struct buf cause;   /* compact JSON, <= CAUSE_MAX_BYTES, when failure */
	int exit_status;    /* what the agent should exit with */
	char message[1024]; /* the cause's message, for the log (no output or stderr in it) */
};

void report_free(struct report *r);

/* Decides the report for a finished command. */
void result_decide(const struct command_result *res, const struct result_policy *pol, struct report *out);

/* The report when the agent could not run the command at all (no pipe,
 * descriptor or process left) after Step Functions accepted the token:
 * ExecFailed with `why` as the message, exit status 125. */
void result_agent_failed(const char *why, const struct result_policy *pol, struct report *out);

/* The cause object: {"exitCode":..,"signal":..,"durationSeconds":..,
 * "message":..,"stderrTail":..[,"taskArn":..]}, at most CAUSE_MAX_BYTES,
 * cutting the front of stderr_tail when needed.  Exposed for unit tests. */
void cause_build(struct buf *out, int exit_code, int term_signal, double duration_s, const char *message,
		 struct span stderr_tail, const char *task_arn);

#endif
