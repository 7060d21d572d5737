/* AWS credentials and the chain of providers that finds them.
 *
 * Each provider is a file of its own (creds_env.c, creds_web_identity.c,
 * creds_profile.c, creds_ecs.c, creds_imds.c) exposing one struct
 * creds_provider; creds.c walks them in the order of the AWS SDKs, caches
 * what the first one yields and fetches again before it expires.  The
 * profile provider builds on assume_role.c (role_arn), process.c
 * (credential_process) and sso.c (SSO profiles). */
#ifndef SFN_CREDS_H
#define SFN_CREDS_H

#include "base/err.h"
#include "base/sys.h"
#include "agent/http.h"

#include <stdbool.h>
#include <stdint.h>

struct creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL for long-term keys */
	int64_t expires_ms;  /* wall clock, 0 = never */
};

void creds_clear(struct creds *c);

enum creds_result {
	CREDS_OK = 0,
	CREDS_NOT_HERE = 1, /* this provider is not configured: try the next */
	CREDS_FAILED = -1,  /* configured but broken: stop, err says why */
};

struct creds_ctx {
	const struct sys *sys;
	struct http *http;   /* for the providers that fetch over HTTP */
	const char *profile; /* AWS_PROFILE or "default" */
	/* Monotonic (sys->mono_ms); 0: none.  Every request is cut to the
	 * time left, and no retry starts after it. */
	int64_t deadline_ms;
};

struct creds_provider {
	const char *name;
	enum creds_result (*fetch)(const struct creds_ctx *ctx, struct creds *out, struct err *err);
};

extern const struct creds_provider creds_env_provider;
extern const struct creds_provider creds_web_identity_provider;
extern const struct creds_provider creds_profile_provider;
extern const struct creds_provider creds_ecs_provider;
extern const struct creds_provider creds_imds_provider;

/* The chain with its cache.  Owned by the Step Functions client. */
struct creds_chain;

struct creds_chain *creds_chain_new(const struct sys *sys, struct http *http);
/* Current credentials, fetched or refreshed when missing or within 5 minutes
 * of expiring.  The pointer stays valid until the next call. */
int creds_chain_get(struct creds_chain *ch, const struct creds **out, struct err *err);
/* The same, with a fetch that ends by deadline_ms (monotonic; 0: none): a
 * heartbeat or a report after a stop must not wait on a slow endpoint. */
int creds_chain_get_until(struct creds_chain *ch, int64_t deadline_ms, const struct creds **out, struct err *err);
/* Forget the cache (after ExpiredToken): the next get fetches again. */
void creds_chain_invalidate(struct creds_chain *ch);
/* Which provider yielded the current credentials ("environment", ...). */
const char *creds_chain_source(const struct creds_chain *ch);
void creds_chain_free(struct creds_chain *ch);

/* The pieces below are shared by the providers and exposed for unit tests
 * and fuzzing. */

/* The JSON the ECS container endpoint and IMDS answer: AccessKeyId,
 * SecretAccessKey, Token (optional), Expiration (optional, ISO 8601).  out is
 * cleared first and filled only on success; 0 or -1 with err set. */
int creds_parse_json(struct span body, struct creds *out, struct err *err);

/* The body of an STS AssumeRoleWithWebIdentity answer (status is the HTTP
 * status): the credentials on success, or err with STS's Code and Message. */
int creds_sts_parse(struct span body, long status, struct creds *out, struct err *err);

/* "2026-11-21T13:00:00Z" (a fraction and a +hh:mm offset are accepted) to
 * milliseconds since the epoch.  0 or -1. */
int iso8601_parse_ms(struct span s, int64_t *out_ms);

/* Whether the container credentials may be fetched from url, as the SDKs
 * decide: https to any host; plain http only to loopback (127.0.0.0/8, ::1,
 * localhost) or the ECS/EKS addresses 169.254.170.2, 169.254.170.23 and
 * fd00:ec2::23.  0, or -1 with err saying why not. */
int creds_ecs_url_allowed(const char *url, struct err *err);

/* One request with retries: transport failures (connect, timeout, reset) and
 * HTTP 5xx are tried again up to attempts times with a short backoff (through
 * ctx->sys->sleep_ms), as long as about 3 s have not passed and
 * ctx->deadline_ms is not reached; each attempt's timeouts are cut to the
 * time left.  0 when an answer below 500 arrived (resp holds it), -1 with err
 * naming what (e.g. "the ECS container credentials endpoint") and the last
 * failure. */
int creds_http_retry(const struct creds_ctx *ctx, const struct http_request *req, struct http_response *resp,
		     int attempts, const char *what, struct err *err);

/* Reads a small file whole (at most max bytes).  0, 1 when it does not exist
 * (ENOENT, ENOTDIR), or -1 with err naming the file and the reason. */
int creds_read_file(const char *path, size_t max, struct buf *out, struct err *err);

/* The region from IMDSv2 (GET /latest/meta-data/placement/region), or NULL
 * when IMDS is disabled, unset or unreachable. */
char *imds_region(const struct sys *sys, struct http *http);
/* The same, ending by deadline_ms (monotonic; 0: none). */
char *imds_region_until(const struct sys *sys, struct http *http, int64_t deadline_ms);

/* Region from the profile's config file (AWS_CONFIG_FILE, AWS_PROFILE), or
 * NULL.  Returned string is owned by the caller. */
char *creds_profile_region(const struct sys *sys);

/* ---- what the profile provider builds on (profile.c) ---- */

/* The profile named on the command line (--profile NAME): it wins over
 * AWS_PROFILE, and, as with the AWS CLI's --profile, the keys in
 * AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are then not used.  NULL forgets
 * it.  The string must outlive the chain (argv does). */
void creds_use_profile(const char *name);
/* The profile in force: --profile, else AWS_PROFILE, else "default". */
const char *creds_profile_name(const struct sys *sys);
bool creds_profile_explicit(void);

/* Refuses keys or a token with a byte outside printable ASCII (0x21-0x7e):
 * such a value would corrupt the signed headers.  source names where they
 * came from.  0, or -1 with err (which never quotes the value). */
int creds_check_printable(const struct creds *c, const char *source, struct err *err);

/* STS AssumeRole, signed with source. */
struct creds_assume_role {
	const char *profile;      /* for messages */
	const char *role_arn;
	const char *session_name; /* NULL: sfn-agent-<unix time> */
	const char *external_id;  /* or NULL */
	int duration_s;           /* 0: STS's default (1 hour) */
	const char *region;       /* the profile's region, or NULL */
};
int creds_assume_role(const struct creds_ctx *ctx, const struct creds_assume_role *a, const struct creds *source,
		      struct creds *out, struct err *err);

/* credential_process: split as POSIX sh would (quotes and backslashes, no
 * expansions) into a NULL-terminated argv; 0 or -1 with err. */
int creds_process_split(const char *line, char ***argv, struct err *err);
void creds_argv_free(char **argv);
/* Its output: {"Version": 1, "AccessKeyId", "SecretAccessKey",
 * "SessionToken"?, "Expiration"?}.  0 or -1 with err. */
int creds_process_parse(struct span text, struct creds *out, struct err *err);
/* True when JSON text holds a \u0000 escape, which cJSON would decode into
 * a NUL that cuts a string short. */
bool creds_json_has_nul_escape(struct span text);
/* Runs command (no shell; stdin /dev/null, stderr passed through, at most
 * 60 s or SFN_AGENT_CREDENTIAL_PROCESS_TIMEOUT seconds) and parses what it
 * prints.  0 or -1 with err naming the profile. */
int creds_process_fetch(const struct creds_ctx *ctx, const char *profile, const char *command, struct creds *out,
			struct err *err);

/* SSO (IAM Identity Center). */
struct creds_sso {
	const char *profile;      /* for messages and `aws sso login --profile NAME` */
	const char *session_name; /* sso_session, or NULL for a legacy profile */
	const char *start_url;
	const char *sso_region;
	const char *account_id;
	const char *role_name;
};
/* $HOME/.aws/sso/cache/<sha1 hex of key>.json, malloc'd, or NULL without HOME. */
char *creds_sso_cache_path(const struct sys *sys, const char *key);
/* GetRoleCredentials' answer: roleCredentials {accessKeyId, secretAccessKey,
 * sessionToken, expiration (ms)}.  0 or -1 with err. */
int creds_sso_parse(struct span body, struct creds *out, struct err *err);
/* The cached token (missing or expired: err says `aws sso login --profile
 * NAME`), then GetRoleCredentials at AWS_ENDPOINT_URL_SSO, else
 * https://portal.sso.REGION.amazonaws.com.  0 or -1 with err. */
int creds_sso_fetch(const struct creds_ctx *ctx, const struct creds_sso *s, struct creds *out, struct err *err);

#endif
