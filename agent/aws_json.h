/* Calls to the AWS services the controller reads besides Step Functions
 * (ECS, CloudWatch Logs): the AWS JSON protocol, signed with SigV4.
 *
 * The controller polls: a call that fails is asked again at the next poll,
 * so a call here retries only what a poll could not wait for (throttling,
 * 5xx, a broken connection) within its deadline, and answers with the same
 * struct sfn_reply (outcome, code, message) the Step Functions client does. */
#ifndef SFN_AWS_JSON_H
#define SFN_AWS_JSON_H

#include "base/err.h"
#include "base/sys.h"
#include "agent/sfn.h"

struct aws_json_service {
	const char *signing_name;  /* "ecs": SigV4 service, endpoint label */
	const char *target_prefix; /* X-Amz-Target is <prefix>.<Operation>; NULL: the query
				    * protocol (form body with Action=, XML answers) */
	const char *content_type;  /* application/x-amz-json-1.1 */
	const char *endpoint_env;  /* for messages: the variable that points it elsewhere */
	const char *global_endpoint; /* a global service (IAM): its one endpoint, signed for
				      * us-east-1, unless the environment points elsewhere */
};

extern const struct aws_json_service aws_service_ecs;
extern const struct aws_json_service aws_service_logs;
extern const struct aws_json_service aws_service_iam;

struct aws_json_client;

/* A client for svc in region, its endpoint from AWS_ENDPOINT_URL_<SERVICE>
 * or AWS_ENDPOINT_URL (endpoint_resolve), its own credentials chain.  NULL
 * with err set when the configuration is unusable. */
struct aws_json_client *aws_json_client_new(const struct sys *sys, const struct aws_json_service *svc,
					    const char *region, struct err *err);
/* The same over an HTTP implementation of the caller's (unit tests); owns http. */
struct aws_json_client *aws_json_client_new_with_http(const struct sys *sys, const struct aws_json_service *svc,
						      const char *region, struct http http, struct err *err);
void aws_json_client_free(struct aws_json_client *c);

/* One operation with a JSON body (query protocol: the form body, with
 * Action= and Version=; operation is then only for messages).  0 when reply->outcome is SFN_OK (the
 * answer in reply->body), else -1 with code and message filled in. */
int aws_json_call(struct aws_json_client *c, const char *operation, const char *json_body, int64_t deadline_ms,
		  struct sfn_reply *reply);

#endif
