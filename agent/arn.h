/* Amazon Resource Names: arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE.
 *
 * The controller needs the region of a state machine ARN (the client falls
 * back to it) and wants to refuse an execution ARN or a typo before it asks
 * Step Functions anything. */
#ifndef SFN_ARN_H
#define SFN_ARN_H

#include "base/err.h"

struct arn {
	char partition[32];
	char service[32];
	char region[32];
	char account[16];
	char resource[512]; /* everything after the fifth colon, colons included */
};

/* Splits s into its parts.  Service and resource must not be empty; region
 * and account may be (IAM, S3).  0, or -1 with one sentence in err. */
int arn_parse(const char *s, struct arn *out, struct err *err);

/* arn_parse plus: service "states", a region, a 12-digit account, and a
 * resource "stateMachine:NAME" (a version or alias suffix is allowed).
 * what names the option in the message, e.g. "--state-machine". */
int arn_parse_state_machine(const char *s, const char *what, struct arn *out, struct err *err);

#endif
