/* One HTTP exchange at a time over a reused connection (libcurl underneath).
 *
 * The Step Functions client and the credential providers talk HTTP only
 * through struct http, so unit tests can answer requests without a server
 * (struct http_ops is the seam). */
#ifndef SFN_HTTP_H
#define SFN_HTTP_H

#include "base/buf.h"
#include "base/err.h"
#include "base/sys.h"

#include <stdbool.h>

struct http_header {
	const char *name;
	const char *value;
};

struct http_request {
	const char *method; /* "GET", "PUT", "POST" */
	const char *url;
	const struct http_header *headers;
	size_t n_headers;
	const char *body;
	size_t body_len;
	long timeout_ms;         /* the whole exchange */
	long connect_timeout_ms; /* 0: same as timeout_ms */
	/* The largest answer body accepted (0: HTTP_BODY_MAX): a larger one
	 * ends the exchange as HTTP_BROKEN.  Each kind of endpoint has its own
	 * limit below, because a parsed JSON tree is many times the size of its
	 * text and the agent is PID 1 of a task with little memory. */
	size_t max_body;
	/* Never through a proxy: the container credentials, IMDS and task
	 * metadata endpoints are local to the host, and a proxy would see
	 * their authorization tokens and the keys they answer (the SDKs never
	 * proxy them either).  Step Functions and STS calls honour
	 * HTTPS_PROXY/NO_PROXY. */
	bool direct;
	/* Polled while the exchange runs (about once a second, and on every
	 * bit of progress): true ends it at once, as a timeout.  May be NULL.
	 * The run mode's final report uses it to keep a deadline that a
	 * SIGTERM brought closer. */
	bool (*abandon)(void *ctx);
	void *abandon_ctx;
};

/* Answer limits by kind: credentials answers (container endpoint, IMDS, STS)
 * and SendTask* answers are a few kilobytes; task metadata lists the
 * task's containers; only the controller's pages (execution history,
 * DescribeExecution with a 256 KiB input and output) are large. */
#define HTTP_BODY_CREDENTIALS (64u << 10)
#define HTTP_BODY_METADATA (256u << 10)
#define HTTP_BODY_SENDTASK (64u << 10)
#define HTTP_BODY_MAX (16u << 20)

enum http_failure {
	HTTP_OK = 0,        /* a response arrived (any status) */
	HTTP_CONNECT,       /* could not connect or resolve: the request was not sent */
	HTTP_TIMEOUT,       /* timed out after connecting */
	HTTP_BROKEN,        /* reset, empty reply, other transport error */
	HTTP_TLS,           /* certificate or handshake refused: not retried */
	HTTP_REFUSED_URL,   /* bad URL or a scheme we do not speak */
};

struct http_response {
	enum http_failure failure;
	long status;         /* 0 when no response arrived */
	struct buf body;
	char date[64];       /* the Date header, "" when absent */
	bool maybe_sent;     /* the request may have reached the server */
	/* libcurl sent the request more than once by itself: a reused
	 * connection died after the first copy went out, and curl retried on a
	 * fresh one.  The answer is to the last copy; the first may have been
	 * acted on too. */
	bool resent;
	char error[256];     /* transport error text, for logs */
};

struct http_ops {
	int (*perform)(void *impl, const struct http_request *req, struct http_response *resp);
	void (*free)(void *impl);
};

struct http {
	const struct http_ops *ops;
	void *impl;
};

/* The real client.  ca_file is what ca_file_resolve() found; NULL means
 * the bundle built into the binary, else libcurl's default.  An unreadable
 * ca_file is refused here, with one sentence.  Proxies come from
 * HTTPS_PROXY/NO_PROXY as libcurl reads them. */
int http_curl_new(struct http *h, const char *ca_file, struct err *err);

/* The CA file to verify servers with: AWS_CA_BUNDLE, then SSL_CERT_FILE,
 * then the first of the usual system bundles that exists; NULL when none
 * does (http_curl_new then uses the bundle built into the binary, if any). */
const char *ca_file_resolve(const struct sys *sys);

/* A PEM bundle linked into the binary (the static build provides it; weak,
 * so the dynamic build links without).  Used only when no CA file exists. */
extern const char sfn_builtin_ca_bundle[] __attribute__((weak));
extern const unsigned long sfn_builtin_ca_bundle_len __attribute__((weak));

/* Runs one request; resp is reset first.  Returns 0 when resp is filled in
 * (check resp->failure and resp->status), -1 only on misuse. */
int http_perform(struct http *h, const struct http_request *req, struct http_response *resp);
void http_response_free(struct http_response *resp);
void http_free(struct http *h);

#endif
