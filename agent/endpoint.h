/* Where the Step Functions (and STS, ECS, Logs) calls go, and which region they name. */
#ifndef SFN_ENDPOINT_H
#define SFN_ENDPOINT_H

#include "base/err.h"
#include "base/sys.h"
#include "agent/http.h"

/* "https://states.<region>.amazonaws.com" (partition-aware, FIPS with
 * AWS_USE_FIPS_ENDPOINT=true), or AWS_ENDPOINT_URL_<SERVICE>, then
 * AWS_ENDPOINT_URL.  service is "states" (env suffix SFN), "sts" (STS), "ecs"
 * (ECS), "logs" (CLOUDWATCH_LOGS, the SDKs' name) or "iam" (IAM).
 * Returns a malloc'd URL without trailing slash, or NULL with err set. */
char *endpoint_resolve(const struct sys *sys, const char *service, const char *region, struct err *err);

/* "amazonaws.com", "amazonaws.com.cn", "c2s.ic.gov", "sc2s.sgov.gov", ... */
const char *partition_dns_suffix(const char *region);

/* The Host header value of an endpoint URL (host[:port], lower case, port
 * kept only when not the scheme's default, user info dropped).  0 or -1. */
int endpoint_host(const char *url, char *host, size_t host_size);

/* The path prefix of an endpoint URL ("" for none): requests go to
 * <prefix>/ and are signed with that path. */
const char *endpoint_path(const char *url);

#endif
