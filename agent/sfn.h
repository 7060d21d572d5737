/* The Step Functions client: AWS JSON 1.0 calls, signed, retried.
 *
 * sfn_call() is the one way to talk to Step Functions.  It signs, sends,
 * parses the error model and retries what is worth retrying (throttling,
 * 5xx, transport failures) with capped exponential backoff and full jitter
 * until the deadline.  What it cannot fix it classifies, so callers decide
 * with a switch, and it can explain each class in one sentence. */
#ifndef SFN_SFN_H
#define SFN_SFN_H

#include "base/buf.h"
#include "base/err.h"
#include "base/sys.h"
#include "agent/http.h"

#include <stdbool.h>
#include <stdint.h>

enum sfn_outcome {
	SFN_OK = 0,
	SFN_TOKEN_DEAD,     /* InvalidToken, TaskDoesNotExist, TaskTimedOut */
	SFN_ACCESS_DENIED,  /* AccessDenied*, not authorized */
	SFN_AUTH_FAILED,    /* signature / unknown key / expired token after refresh */
	SFN_REFUSED,        /* any other final answer: validation, InvalidOutput, ... */
	SFN_GAVE_UP,        /* retryable failures until the deadline */
	SFN_NO_CREDENTIALS, /* the chain yielded nothing */
};

/* What failed on this side, when no answer named an error: the TLS
 * handshake, the endpoint URL, the credentials, the clock.  Local failures
 * used to travel as made-up AWS codes ("TLSError") compared with strcmp;
 * now code stays "" (no AWS service said anything) and callers switch on
 * this, as aws-c-auth's callers switch on its error enum. */
enum sfn_local {
	SFN_LOCAL_NONE = 0,    /* the outcome comes from answers (or their absence) */
	SFN_LOCAL_TLS,         /* certificate or handshake refused: not retried */
	SFN_LOCAL_ENDPOINT,    /* the endpoint URL cannot be used (scheme, syntax) */
	SFN_LOCAL_CREDENTIALS, /* the chain found none, or what it found is unusable */
	SFN_LOCAL_DEADLINE,    /* the deadline passed before a request could be sent */
	SFN_LOCAL_INTERNAL,    /* a request this program built was refused by its HTTP layer */
};

struct sfn_reply {
	enum sfn_outcome outcome;
	enum sfn_local local; /* SFN_LOCAL_NONE unless the failure is this side's */
	long http_status;     /* last answer's status, 0 if none */
	char code[128];       /* error code without namespace, "" if none */
	char message[512];    /* error message or transport error */
	int attempts;
	/* An earlier attempt failed after the request may have reached Step
	 * Functions (timeout or broken connection after sending, or HTTP 500, 502
	 * or 504). */
	bool maybe_delivered;
	struct buf body;      /* response body when outcome == SFN_OK */
};

void sfn_reply_free(struct sfn_reply *r);

struct sfn_client;

struct sfn_client_config {
	const struct sys *sys;
	const char *region_fallback; /* e.g. from a state machine ARN; may be NULL */
	/* Per-attempt limit on one HTTP exchange; 0 = default (10 s). */
	long attempt_timeout_ms;
	/* The region look-ups (task metadata, IMDS) end by then (monotonic;
	 * 0: none): a caller with a report to make passes its deadline. */
	int64_t deadline_ms;
	/* May be NULL.  The deadline now in force (monotonic ms), or -1: asked
	 * before each attempt and while it runs, so that a deadline can come
	 * closer during a call (the run mode: a SIGTERM during the final
	 * report leaves it 8 s).  Sleeps between attempts go through sys, so
	 * the caller's sys->sleep_ms must return early when it moves. */
	int64_t (*deadline_now)(void *ctx);
	void *deadline_ctx;
};

/* Resolves region, endpoint, CA file and credentials chain (credentials are
 * fetched lazily, on the first call).  NULL with err set when the
 * configuration is unusable (no region, bad endpoint URL). */
struct sfn_client *sfn_client_new(const struct sfn_client_config *cfg, struct err *err);
/* Same, with an HTTP implementation of the caller's (unit tests).  The
 * client owns http from here on (http_free at sfn_client_free, or at once
 * when this fails). */
struct sfn_client *sfn_client_new_with_http(const struct sfn_client_config *cfg, struct http http,
					    struct err *err);
void sfn_client_free(struct sfn_client *c);
const char *sfn_client_region(const struct sfn_client *c);
const char *sfn_client_endpoint(const struct sfn_client *c);
/* The client's HTTP connection, to lend for a look-up on the side (the
 * task metadata) rather than opening a second one.  Owned by the client. */
struct http *sfn_client_http(struct sfn_client *c);

/* One operation ("SendTaskSuccess", ...) with a JSON request body.  Retries
 * until deadline_ms (monotonic clock; sys->mono_ms).  Returns 0 when
 * outcome is SFN_OK, -1 otherwise; reply is always filled in. */
int sfn_call(struct sfn_client *c, const char *operation, const char *json_body, int64_t deadline_ms,
	     struct sfn_reply *reply);

/* The three task calls.  output and cause are JSON text / free text, sent as
 * given (the caller validated them). */
int sfn_send_success(struct sfn_client *c, const char *token, const char *output, int64_t deadline_ms,
		     struct sfn_reply *reply);
int sfn_send_failure(struct sfn_client *c, const char *token, const char *error, const char *cause,
		     int64_t deadline_ms, struct sfn_reply *reply);
int sfn_send_heartbeat(struct sfn_client *c, const char *token, int64_t deadline_ms, struct sfn_reply *reply);

/* One sentence: what the reply means and what to change, e.g. for access
 * denied on SendTaskSuccess: "the task role needs states:SendTaskSuccess,
 * states:SendTaskFailure and states:SendTaskHeartbeat". */
const char *sfn_explain(const struct sfn_reply *r, const char *operation, char *out, size_t size);

/* Fills r->code and r->message from an error answer's body (JSON 1.0
 * {"__type","message"} or XML <Code>/<Message>); both "" when it has none.
 * Only those two fields are written.  Exposed for fuzzing. */
void sfn_parse_error(const struct buf *body, struct sfn_reply *r);

/* A short fingerprint of a task token for logs: "tok:" + the first 8 hex
 * digits of its SHA-256, e.g. "tok:1a2b3c4d".  out must hold 16 bytes. */
void token_fingerprint(const char *token, char out[16]);

/* Checks a token against the limits: 1–2,048 printable ASCII characters.
 * 0, or -1 with one sentence in err. */
int token_validate(const char *token, struct err *err);

#endif
