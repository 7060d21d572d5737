/* Which region the calls name, and what the ECS task metadata tells. */
#ifndef SFN_REGION_H
#define SFN_REGION_H

#include "base/err.h"
#include "base/sys.h"
#include "agent/http.h"

/* Region, first that yields: AWS_REGION, AWS_DEFAULT_REGION, the profile's
 * region (AWS_CONFIG_FILE / AWS_PROFILE), ECS task metadata
 * (ECS_CONTAINER_METADATA_URI_V4 + "/task": AvailabilityZone or TaskARN),
 * IMDS (unless AWS_EC2_METADATA_DISABLED=true), then fallback (e.g. the
 * region of a state machine ARN; may be NULL).  Returns a malloc'd string,
 * or NULL with err set ("no AWS region: set AWS_REGION ...").  http may be
 * NULL: the network look-ups are skipped. */
char *region_resolve(const struct sys *sys, struct http *http, const char *fallback, struct err *err);
/* The same, with the network look-ups ending by deadline_ms (monotonic; 0:
 * none), for a caller that has a report to make by then. */
char *region_resolve_until(const struct sys *sys, struct http *http, const char *fallback, int64_t deadline_ms,
			   struct err *err);

/* The task ARN from ECS_CONTAINER_METADATA_URI_V4 (GET <uri>/task ->
 * "TaskARN"), or NULL when unset or unreachable.  Short timeout (1 s).  With
 * http NULL a client is made for the one request. */
char *ecs_task_arn(const struct sys *sys, struct http *http);

#endif
