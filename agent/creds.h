/* AWS credentials and the chain of providers that finds them.
 *
 * Each provider is a file of its own (creds_env.c, creds_web_identity.c,
 * creds_profile.c, creds_ecs.c, creds_imds.c) exposing one struct
 * creds_provider; creds.c walks them in the order of the AWS SDKs, caches
 * what the first one yields and fetches again before it expires. */
#ifndef SFN_CREDS_H
#define SFN_CREDS_H

#include "../src/err.h"
#include "../src/sys.h"
#include "http.h"

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
	struct http *http;  /* for the providers that fetch over HTTP */
	const char *profile; /* AWS_PROFILE or "default" */
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
/* Forget the cache (after ExpiredToken): the next get fetches again. */
void creds_chain_invalidate(struct creds_chain *ch);
/* Which provider yielded the current credentials ("environment", ...). */
const char *creds_chain_source(const struct creds_chain *ch);
void creds_chain_free(struct creds_chain *ch);

/* Region from the profile's config file (AWS_CONFIG_FILE, AWS_PROFILE), or
 * NULL.  Returned string is owned by the caller. */
char *creds_profile_region(const struct sys *sys);

#endif
