/* AWS Signature Version 4 for the requests the agent makes: a POST (or GET)
 * with a small set of signed headers.  Pure: no clock, no I/O. */
#ifndef SFN_SIGV4_H
#define SFN_SIGV4_H

#include "base/buf.h"
#include "agent/creds/creds.h"

#include <stdint.h>

struct sigv4_input {
	const char *method;
	const char *host;        /* as sent in the Host header (with :port if not default) */
	const char *path;        /* "/" */
	const char *query;       /* canonical query string, "" for none */
	const char *region;
	const char *service;     /* "states", "sts" */
	const char *amz_target;  /* X-Amz-Target, or NULL */
	const char *content_type;/* or NULL */
	struct span payload;
	int64_t wall_ms;         /* signing time */
};

/* Fills amz_date ("20261121T120000Z") and authorization (the header value).
 * Signs host, x-amz-date, x-amz-target, content-type and
 * x-amz-security-token: the headers every AWS signer agrees on. */
void sigv4_sign(const struct sigv4_input *in, const struct creds *c, char amz_date[17],
		struct buf *authorization);

#endif
