/* The CA file order and the transport classification of the curl client
 * (only loopback addresses: a refused connection on 127.0.0.1). */
#include "agent/http.h"
#include "check.h"

#include <stdlib.h>
#include <unistd.h>

static const char *ca_bundle, *ssl_cert_file;

static const char *fake_getenv(const char *name)
{
	if (strcmp(name, "AWS_CA_BUNDLE") == 0)
		return ca_bundle;
	if (strcmp(name, "SSL_CERT_FILE") == 0)
		return ssl_cert_file;
	return NULL;
}

static const struct sys fake_sys = { fake_getenv, NULL, NULL, NULL, NULL };

static void test_ca_file_order(void)
{
	ca_bundle = "/a.pem";
	ssl_cert_file = "/b.pem";
	CHECK_STR(ca_file_resolve(&fake_sys), "/a.pem");
	ca_bundle = "";
	CHECK_STR(ca_file_resolve(&fake_sys), "/b.pem");
	ssl_cert_file = NULL;
	const char *sys_file = ca_file_resolve(&fake_sys);
	/* Whatever the host has, it must be one of the usual files and exist. */
	if (sys_file) {
		CHECK(access(sys_file, R_OK) == 0);
		CHECK(strncmp(sys_file, "/etc/", 5) == 0);
	}
}

static void test_unreadable_ca_refused(void)
{
	struct http h = { 0 };
	struct err err = { "" };
	CHECK(http_curl_new(&h, "/nonexistent/ca.pem", &err) == -1);
	CHECK(strstr(err.msg, "/nonexistent/ca.pem") != NULL);
	CHECK(strstr(err.msg, "AWS_CA_BUNDLE") != NULL);
}

static void test_refused_connection(void)
{
	struct http h = { 0 };
	struct err err = { "" };
	CHECK(http_curl_new(&h, NULL, &err) == 0);
	struct http_header hdr[] = { { "Content-Type", "application/x-amz-json-1.0" } };
	struct http_request req = { "POST", "http://127.0.0.1:1/", hdr, 1, "{}", 2, 2000, 1000 };
	struct http_response resp = { 0 };
	CHECK(http_perform(&h, &req, &resp) == 0);
	CHECK(resp.failure == HTTP_CONNECT);
	CHECK(!resp.maybe_sent);
	CHECK(resp.status == 0);
	CHECK(resp.error[0] != '\0');

	req.url = "ftp://127.0.0.1:1/";
	CHECK(http_perform(&h, &req, &resp) == 0);
	CHECK(resp.failure == HTTP_REFUSED_URL);
	CHECK(!resp.maybe_sent);

	req.url = NULL;
	CHECK(http_perform(&h, &req, &resp) == -1);
	http_response_free(&resp);
	http_free(&h);
}

int main(void)
{
	RUN(test_ca_file_order);
	RUN(test_unreadable_ca_refused);
	RUN(test_refused_connection);
	return CHECK_DONE();
}
