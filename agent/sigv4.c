/* AWS Signature Version 4, for the few requests the agent makes.
 *
 * Only host, x-amz-date, x-amz-target, content-type and x-amz-security-token
 * are signed: every AWS signer agrees on those, while botocore (which some
 * verifiers re-sign with) drops user-agent, expect and friends even when the
 * client signed them, and the signature then never matches.
 *
 * Nothing here may be logged: the canonical request carries the session
 * token, and the intermediate keys are as good as the secret for a day. */
#include "agent/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SHA256_LEN 32

static void sha256(const void *p, size_t n, unsigned char out[SHA256_LEN])
{
	unsigned int len = 0;
	if (!EVP_Digest(p, n, out, &len, EVP_sha256(), NULL))
		die_oom(); /* only fails when OpenSSL cannot allocate */
}

static void hmac(const void *key, size_t key_len, const void *msg, size_t msg_len, unsigned char out[SHA256_LEN])
{
	unsigned int len = 0;
	if (!HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &len))
		die_oom();
}

static void hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Header values are signed with surrounding whitespace trimmed and inner
 * runs of spaces collapsed, as the SigV4 rules say. */
static void put_header(struct buf *b, const char *name, const char *value)
{
	buf_puts(b, name);
	buf_putc(b, ':');
	while (*value == ' ' || *value == '\t')
		value++;
	size_t n = strlen(value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	bool space = false;
	for (size_t i = 0; i < n; i++) {
		if (value[i] == ' ' || value[i] == '\t') {
			space = true;
			continue;
		}
		if (space)
			buf_putc(b, ' ');
		space = false;
		buf_putc(b, value[i]);
	}
	buf_putc(b, '\n');
}

void sigv4_sign(const struct sigv4_input *in, const struct creds *c, char amz_date[17],
		struct buf *authorization)
{
	time_t secs = (time_t)(in->wall_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(amz_date, 17, "%Y%m%dT%H%M%SZ", &tm);
	char date[9];
	memcpy(date, amz_date, 8);
	date[8] = '\0';

	const char *token = c->session_token && *c->session_token ? c->session_token : NULL;

	/* Canonical headers must be sorted by name: content-type < host <
	 * x-amz-date < x-amz-security-token < x-amz-target. */
	struct buf creq = BUF_INIT, signed_headers = BUF_INIT;
	buf_printf(&creq, "%s\n%s\n%s\n", in->method, in->path && *in->path ? in->path : "/",
		   in->query ? in->query : "");
	if (in->content_type) {
		put_header(&creq, "content-type", in->content_type);
		buf_puts(&signed_headers, "content-type;");
	}
	put_header(&creq, "host", in->host);
	buf_puts(&signed_headers, "host;");
	put_header(&creq, "x-amz-date", amz_date);
	buf_puts(&signed_headers, "x-amz-date");
	if (token) {
		put_header(&creq, "x-amz-security-token", token);
		buf_puts(&signed_headers, ";x-amz-security-token");
	}
	if (in->amz_target) {
		put_header(&creq, "x-amz-target", in->amz_target);
		buf_puts(&signed_headers, ";x-amz-target");
	}
	buf_putc(&creq, '\n');
	buf_puts(&creq, buf_cstr(&signed_headers));
	buf_putc(&creq, '\n');

	unsigned char digest[SHA256_LEN];
	char digest_hex[2 * SHA256_LEN + 1];
	sha256(in->payload.ptr ? in->payload.ptr : "", in->payload.len, digest);
	hex(digest, SHA256_LEN, digest_hex);
	buf_puts(&creq, digest_hex);

	struct buf scope = BUF_INIT, to_sign = BUF_INIT;
	buf_printf(&scope, "%s/%s/%s/aws4_request", date, in->region, in->service);
	sha256(creq.data, creq.len, digest);
	hex(digest, SHA256_LEN, digest_hex);
	buf_printf(&to_sign, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, buf_cstr(&scope), digest_hex);

	struct buf k_secret = BUF_INIT;
	buf_printf(&k_secret, "AWS4%s", c->secret_key);
	unsigned char k_date[SHA256_LEN], k_region[SHA256_LEN], k_service[SHA256_LEN], key[SHA256_LEN];
	hmac(k_secret.data, k_secret.len, date, strlen(date), k_date);
	hmac(k_date, SHA256_LEN, in->region, strlen(in->region), k_region);
	hmac(k_region, SHA256_LEN, in->service, strlen(in->service), k_service);
	hmac(k_service, SHA256_LEN, "aws4_request", strlen("aws4_request"), key);
	unsigned char sig[SHA256_LEN];
	char sig_hex[2 * SHA256_LEN + 1];
	hmac(key, SHA256_LEN, to_sign.data, to_sign.len, sig);
	hex(sig, SHA256_LEN, sig_hex);

	buf_reset(authorization);
	buf_printf(authorization, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		   c->access_key, buf_cstr(&scope), buf_cstr(&signed_headers), sig_hex);

	/* The secret-derived material should not linger in freed memory. */
	OPENSSL_cleanse(k_date, sizeof k_date);
	OPENSSL_cleanse(k_region, sizeof k_region);
	OPENSSL_cleanse(k_service, sizeof k_service);
	OPENSSL_cleanse(key, sizeof key);
	OPENSSL_cleanse(k_secret.data, k_secret.len);
	if (token)
		OPENSSL_cleanse(creq.data, creq.len);
	buf_free(&k_secret);
	buf_free(&creq);
	buf_free(&signed_headers);
	buf_free(&scope);
	buf_free(&to_sign);
}
