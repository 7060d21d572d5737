/* struct http over one libcurl easy handle.
 *
 * One handle per struct http, so its connection cache keeps the TLS
 * connection to Step Functions open between heartbeats.  What matters most
 * here is telling the caller whether a failed request may have reached the
 * server: a report that may have been delivered must not be called lost. */
#include "agent/http.h"

#include <curl/curl.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifndef SFN_AGENT_VERSION
#define SFN_AGENT_VERSION "dev"
#endif

struct curl_impl {
	CURL *curl;
	char *ca_file;
	struct http_response *resp; /* the exchange in progress */
	bool header_out;            /* request bytes were handed to the socket */
	int heads_out;              /* request heads sent: 2 when curl retried by itself */
	size_t max_body;            /* of the exchange in progress */
	bool truncated;
};

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
	struct curl_impl *ci = userdata;
	size_t len = size * n;
	if (ci->resp->body.len + len > ci->max_body) {
		ci->truncated = true;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	buf_append(&ci->resp->body, p, len);
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
	struct curl_impl *ci = userdata;
	size_t len = size * n;
	/* A new status line (after 100 Continue or a proxy's CONNECT answer)
	 * starts a new set of headers. */
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
		ci->resp->date[0] = '\0';
	if (len > 5 && strncasecmp(p, "date:", 5) == 0) {
		const char *v = p + 5;
		size_t vlen = len - 5;
		while (vlen > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		if (vlen >= sizeof ci->resp->date)
			vlen = sizeof ci->resp->date - 1;
		memcpy(ci->resp->date, v, vlen);
		ci->resp->date[vlen] = '\0';
	}
	return len;
}

/* The debug callback is the one place curl says that request bytes went
 * out; nothing it sees is logged (it includes the Authorization header). */
static int on_debug(CURL *curl, curl_infotype type, char *data, size_t size, void *userdata)
{
	(void)curl;
	(void)data;
	(void)size;
	struct curl_impl *ci = userdata;
	/* Not SSL_DATA_OUT: that includes the TLS handshake, which the
	 * server cannot act on. */
	if (type == CURLINFO_HEADER_OUT || type == CURLINFO_DATA_OUT)
		ci->header_out = true;
	if (type == CURLINFO_HEADER_OUT)
		ci->heads_out++;
	return 0;
}

static bool is_tls_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

static void classify(struct curl_impl *ci, CURLcode rc, const char *errbuf)
{
	struct http_response *resp = ci->resp;
	snprintf(resp->error, sizeof resp->error, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		resp->failure = HTTP_CONNECT;
		resp->maybe_sent = false;
		return;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		resp->failure = HTTP_REFUSED_URL;
		resp->maybe_sent = false;
		return;
	case CURLE_ABORTED_BY_CALLBACK: /* req->abandon: a deadline that came closer */
	case CURLE_OPERATION_TIMEDOUT:
		/* Before the request went out this is a slow connect: the
		 * server cannot have acted on it. */
		resp->failure = ci->header_out ? HTTP_TIMEOUT : HTTP_CONNECT;
		resp->maybe_sent = ci->header_out;
		return;
	default:
		break;
	}
	if (is_tls_error(rc) && !ci->header_out) {
		resp->failure = HTTP_TLS;
		resp->maybe_sent = false;
		return;
	}
	if (ci->truncated)
		snprintf(resp->error, sizeof resp->error, "the response was larger than %zu bytes", ci->max_body);
	/* Reset, empty reply, send/receive errors, partial answers. */
	resp->failure = HTTP_BROKEN;
	resp->maybe_sent = ci->header_out;
}

/* With CURLOPT_NOSIGNAL curl leaves SIGPIPE alone, and a write to a socket
 * the peer closed must not kill the agent.  Linux sends with MSG_NOSIGNAL
 * already; this covers the TLS library writing on its own.  A SIGPIPE that
 * stays pending because the caller blocks signals is consumed here so the
 * supervisor never sees a SIGPIPE that belongs to a socket. */
struct sigpipe_guard {
	struct sigaction old;
	bool saved;
};

static void sigpipe_ignore(struct sigpipe_guard *g)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	g->saved = sigaction(SIGPIPE, &sa, &g->old) == 0;
}

static void sigpipe_restore(struct sigpipe_guard *g)
{
	sigset_t pending, pipe_only;
	if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
		sigemptyset(&pipe_only);
		sigaddset(&pipe_only, SIGPIPE);
		struct timespec zero = { 0, 0 };
		while (sigtimedwait(&pipe_only, NULL, &zero) == -1 && errno == EINTR)
			;
	}
	if (g->saved)
		sigaction(SIGPIPE, &g->old, NULL);
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	const struct http_request *req = userdata;
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return req->abandon(req->abandon_ctx) ? 1 : 0;
}

static int curl_perform(void *impl, const struct http_request *req, struct http_response *resp)
{
	struct curl_impl *ci = impl;
	CURL *c = ci->curl;
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	int ret = -1;

	ci->resp = resp;
	ci->header_out = false;
	ci->heads_out = 0;
	ci->truncated = false;
	ci->max_body = req->max_body ? req->max_body : HTTP_BODY_MAX;

	for (size_t i = 0; i < req->n_headers; i++) {
		struct buf line = BUF_INIT;
		buf_printf(&line, "%s: %s", req->headers[i].name, req->headers[i].value);
		struct curl_slist *n = curl_slist_append(headers, buf_cstr(&line));
		buf_free(&line);
		if (!n)
			die_oom();
		headers = n;
	}
	/* curl would send "Expect: 100-continue" for larger bodies and wait for
	 * an answer some servers never give; a few hundred KB are sent at once. */
	struct curl_slist *n = curl_slist_append(headers, "Expect:");
	if (!n)
		die_oom();
	headers = n;

	long timeout = req->timeout_ms > 0 ? req->timeout_ms : 10000;
	long connect = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : timeout;
	if (connect > timeout)
		connect = timeout;

	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	/* "" turns proxies off, even those named in the environment; NULL
	 * goes back to reading HTTPS_PROXY/NO_PROXY. */
	curl_easy_setopt(c, CURLOPT_PROXY, req->direct ? "" : NULL);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, req->abandon ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, req->abandon ? on_progress : NULL);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, req->abandon ? (void *)req : NULL);
	if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
	} else {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
		/* PUT (IMDSv2's token) is a POST with another verb: the body
		 * handling stays the same. */
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, strcmp(req->method, "POST") == 0 ? NULL : req->method);
	}

	struct sigpipe_guard guard;
	sigpipe_ignore(&guard);
	CURLcode rc = curl_easy_perform(c);
	sigpipe_restore(&guard);

	if (rc == CURLE_OK) {
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		resp->failure = HTTP_OK;
		resp->status = status;
		resp->maybe_sent = true;
		resp->resent = ci->heads_out > 1;
	} else {
		classify(ci, rc, errbuf);
		resp->status = 0;
		buf_reset(&resp->body);
	}
	ret = 0;

	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(headers);
	ci->resp = NULL;
	return ret;
}

static void curl_impl_free(void *impl)
{
	struct curl_impl *ci = impl;
	if (!ci)
		return;
	curl_easy_cleanup(ci->curl);
	free(ci->ca_file);
	free(ci);
}

static const struct http_ops curl_ops = { curl_perform, curl_impl_free };

int http_curl_new(struct http *h, const char *ca_file, struct err *err)
{
	static bool global_done;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return err_set(err, "cannot initialise libcurl (out of memory?)");
		global_done = true;
	}
	if (ca_file && access(ca_file, R_OK) != 0)
		return err_set(err,
			       "cannot read the CA bundle %s (%s): point AWS_CA_BUNDLE or SSL_CERT_FILE at a "
			       "readable PEM file",
			       ca_file, strerror(errno));

	struct curl_impl *ci = xcalloc(1, sizeof *ci);
	ci->curl = curl_easy_init();
	if (!ci->curl) {
		free(ci);
		return err_set(err, "cannot initialise libcurl (out of memory?)");
	}
	CURL *c = ci->curl;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "sfn-agent/" SFN_AGENT_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, ci);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, ci);
	curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(c, CURLOPT_DEBUGDATA, ci);
	curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
	/* No CURLOPT_PROXY: libcurl then reads HTTPS_PROXY, https_proxy and
	 * NO_PROXY itself, as users expect. */

	if (ca_file || (&sfn_builtin_ca_bundle_len != NULL && sfn_builtin_ca_bundle_len > 0)) {
		/* The chosen bundle is the only trust: a distribution's libcurl
		 * (Debian's) also has a CA directory built in, which would accept
		 * servers that AWS_CA_BUNDLE does not vouch for. */
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
#if LIBCURL_VERSION_NUM >= 0x073400
		curl_easy_setopt(c, CURLOPT_PROXY_CAPATH, NULL);
#endif
	}
	if (ca_file) {
		ci->ca_file = xstrdup(ca_file);
		curl_easy_setopt(c, CURLOPT_CAINFO, ci->ca_file);
		/* The same trust for an https:// proxy itself. */
		curl_easy_setopt(c, CURLOPT_PROXY_CAINFO, ci->ca_file);
	} else if (&sfn_builtin_ca_bundle_len != NULL && sfn_builtin_ca_bundle_len > 0) {
		/* BUILT-IN CA BUNDLE HOOK: the static build links a PEM bundle
		 * (sfn_builtin_ca_bundle, see http.h) for images without one,
		 * e.g. FROM scratch.  libcurl copies the blob. */
#if LIBCURL_VERSION_NUM >= 0x074d00
		struct curl_blob blob = { (void *)sfn_builtin_ca_bundle, (size_t)sfn_builtin_ca_bundle_len,
					  CURL_BLOB_COPY };
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
		curl_easy_setopt(c, CURLOPT_PROXY_CAINFO_BLOB, &blob);
#endif
	}
	/* Otherwise libcurl's compiled-in default location applies. */

	h->ops = &curl_ops;
	h->impl = ci;
	return 0;
}

const char *ca_file_resolve(const struct sys *sys)
{
	static const char *const system_bundles[] = {
		"/etc/ssl/certs/ca-certificates.crt",               /* Debian, Ubuntu, Alpine */
		"/etc/pki/tls/certs/ca-bundle.crt",                 /* Fedora, RHEL, Amazon Linux */
		"/etc/ssl/ca-bundle.pem",                           /* openSUSE */
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* RHEL 7+ */
		"/etc/ssl/cert.pem",                                /* Alpine, macOS-like */
	};
	const char *v = sys_env(sys, "AWS_CA_BUNDLE");
	if (v)
		return v;
	v = sys_env(sys, "SSL_CERT_FILE");
	if (v)
		return v;
	for (size_t i = 0; i < sizeof system_bundles / sizeof system_bundles[0]; i++)
		if (access(system_bundles[i], R_OK) == 0)
			return system_bundles[i];
	return NULL;
}

int http_perform(struct http *h, const struct http_request *req, struct http_response *resp)
{
	buf_reset(&resp->body);
	resp->failure = HTTP_OK;
	resp->status = 0;
	resp->date[0] = '\0';
	resp->maybe_sent = false;
	resp->resent = false;
	resp->error[0] = '\0';
	if (!h || !h->ops || !req || !req->url || !req->method)
		return -1;
	return h->ops->perform(h->impl, req, resp);
}

void http_response_free(struct http_response *resp)
{
	buf_free(&resp->body);
}

void http_free(struct http *h)
{
	if (h && h->ops && h->ops->free)
		h->ops->free(h->impl);
	if (h) {
		h->ops = NULL;
		h->impl = NULL;
	}
}
