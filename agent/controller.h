/* What the controller subcommands (start, check, template) share: option
 * parsing helpers, usage errors, and reading + checking a state machine. */
#ifndef SFN_CONTROLLER_H
#define SFN_CONTROLLER_H

#include "../src/err.h"
#include "asl.h"
#include "sfn.h"

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
int ctl_bad_option(const char *cmd, int opt, char **argv);

/* Seconds as a decimal number in [min, max]; 0 or -1. */
int ctl_parse_seconds(const char *s, double min, double max, double *out);

/* A client whose region falls back to the state machine ARN's. */
struct sfn_client *ctl_client_new(const char *arn_region, struct err *err);

/* Prints a refused or failed call as one sentence: the code, the message and
 * what it means ("sfn-agent: error: StartExecution: ..."). */
void ctl_report_call(const char *operation, const struct sfn_reply *r);

/* DescribeStateMachine + asl_check.  Returns 0 with report filled, or -1
 * with reply filled in (reply->outcome != SFN_OK: the call failed) or, when
 * the call worked but the definition could not be read, err set. */
int ctl_check_state_machine(struct sfn_client *c, const char *arn, const struct asl_options *opt,
			    int64_t deadline_ms, struct asl_report *report, struct sfn_reply *reply, struct err *err);

#endif
