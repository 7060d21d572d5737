/* Reading a role's policies from IAM and telling whether they allow an
 * action on a resource, for `check`.
 *
 * Only what the role's own policies say is evaluated: wildcards in actions
 * and resources count; a Deny or a Condition that could apply, NotAction,
 * NotResource, permissions boundaries and organisation policies are beyond
 * a reading of the policies, so they make the answer "cannot tell". */
#ifndef SFN_IAM_H
#define SFN_IAM_H

#include "agent/aws_json.h"

#include <stddef.h>

struct iam_policies {
	char **docs; /* policy documents, JSON */
	size_t n, cap;
};

void iam_policies_free(struct iam_policies *p);

/* The inline and attached policies of the role named role_name.  0, or -1
 * with reply filled in and *failed_action the IAM action that failed
 * ("iam:ListRolePolicies", ...). */
int iam_role_policies(struct aws_json_client *iam, const char *role_name, int64_t deadline_ms,
		      struct iam_policies *out, struct sfn_reply *reply, const char **failed_action);

enum iam_verdict { IAM_DENIED, IAM_ALLOWED, IAM_CANNOT_TELL };

/* What the documents say of action on resource ("*" for actions that take
 * no resource).  why gets the reason for IAM_CANNOT_TELL. */
enum iam_verdict iam_evaluate(const struct iam_policies *p, const char *action, const char *resource, char *why,
			      size_t why_size);

/* The role name in a role ARN (arn:aws:iam::1:role/path/NAME): malloc'd, or NULL. */
char *iam_role_name(const char *role_arn);

/* Percent-decoding (GetRolePolicy answers its document URL-encoded). */
char *iam_url_decode(const char *s);

#endif
