/* The failure cause (wrapper/result.c: cause_build) and the UTF-8 repair
 * under it (base/json.c: json_append_string) on whatever a command writes to
 * stderr: always one valid JSON object of at most CAUSE_MAX_BYTES, valid
 * UTF-8, cut only at the front of stderr. */
#include "fuzz.h"

#include "base/json.h"
#include "wrapper/result.h"

#include <cjson/cJSON.h>

/* json_append_string alone: valid JSON, valid UTF-8, its length predicted by
 * json_escaped_char_len, and the text unchanged when it was valid UTF-8. */
static void check_string(struct span s)
{
	struct buf out = BUF_INIT;
	json_append_string(&out, s);
	size_t off, want = 2, used;
	FUZZ_CHECK(json_validate(span_of(out.data, out.len), &off) == 0);
	FUZZ_CHECK(fuzz_utf8_valid(out.data, out.len));
	for (size_t i = 0; i < s.len; i += used)
		want += json_escaped_char_len(s.ptr + i, s.len - i, &used);
	FUZZ_CHECK(out.len == want);
	if (fuzz_utf8_valid(s.ptr, s.len) && !memchr(s.ptr, '\0', s.len)) {
		cJSON *v = cJSON_ParseWithLength(out.data, out.len);
		FUZZ_CHECK(cJSON_IsString(v));
		FUZZ_CHECK(strlen(v->valuestring) == s.len && memcmp(v->valuestring, s.ptr, s.len) == 0);
		cJSON_Delete(v);
	}
	buf_free(&out);
}

/* The text json_append_string keeps of s, decoded back (s without NULs). */
static char *repaired(struct span s)
{
	struct buf out = BUF_INIT;
	json_append_string(&out, s);
	cJSON *v = cJSON_ParseWithLength(out.data, out.len);
	FUZZ_CHECK(cJSON_IsString(v));
	char *r = xstrdup(v->valuestring);
	cJSON_Delete(v);
	buf_free(&out);
	return r;
}

static char *next_field(const uint8_t **p, size_t *n)
{
	const uint8_t *nul = memchr(*p, '\0', *n);
	size_t len = nul ? (size_t)(nul - *p) : *n;
	char *s = xstrndup((const char *)*p, len);
	*p += len + (nul ? 1 : 0);
	*n -= len + (nul ? 1 : 0);
	return s;
}

/* Input: 4 bytes exit code, 1 signal, 8 duration, 1 repeat flag, then
 * message NUL task ARN NUL stderr (repeated past the limit when the flag is
 * 0xfc or more). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_string(span_of((const char *)data, size));
	if (size < 14)
		return 0;
	int32_t code;
	double dur;
	memcpy(&code, data, 4);
	int sig = data[4] % 70;
	memcpy(&dur, data + 5, 8);
	unsigned rep = data[13];
	data += 14, size -= 14;
	char *msg = next_field(&data, &size);
	char *arn = next_field(&data, &size);
	struct buf err = BUF_INIT;
	/* Mostly small; now and then past the limit, to exercise the cut. */
	size_t want = rep >= 0xfc && size > 0 ? CAUSE_MAX_BYTES + 64 * (rep & 3) : 0;
	do
		buf_append(&err, data, size);
	while (err.len < want);
	struct span tail = span_of(err.data ? err.data : "", err.len);

	struct buf out = BUF_INIT, bare = BUF_INIT;
	cause_build(&out, code, sig, dur, msg, tail, arn);
	size_t off;
	FUZZ_CHECK(out.len <= CAUSE_MAX_BYTES);
	FUZZ_CHECK(json_validate(span_of(out.data, out.len), &off) == 0);
	FUZZ_CHECK(fuzz_utf8_valid(out.data, out.len));
	cJSON *root = cJSON_ParseWithLength(out.data, out.len);
	FUZZ_CHECK(cJSON_IsObject(root));
	FUZZ_CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "exitCode")) ==
		   (code >= 0));
	FUZZ_CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "durationSeconds")));
	FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "message")));
	FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "signal")) == (sig > 0));
	FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "taskArn")) == (arn[0] != '\0'));
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "stderrTail");
	FUZZ_CHECK(cJSON_IsString(st));
	if (!memchr(tail.ptr, '\0', tail.len)) {
		/* Only the front of stderr goes, and only when the whole would not fit. */
		char *full = repaired(tail);
		size_t fl = strlen(full), kl = strlen(st->valuestring);
		FUZZ_CHECK(kl <= fl && memcmp(full + fl - kl, st->valuestring, kl) == 0);
		cause_build(&bare, code, sig, dur, msg, span_of("", 0), arn);
		struct buf esc = BUF_INIT;
		json_append_string(&esc, tail);
		if (bare.len + esc.len - 2 <= CAUSE_MAX_BYTES)
			FUZZ_CHECK(kl == fl);
		else
			FUZZ_CHECK(out.len + 6 > CAUSE_MAX_BYTES); /* nothing more would fit */
		buf_free(&esc);
		free(full);
	}
	cJSON_Delete(root);
	buf_free(&out);
	buf_free(&bare);
	buf_free(&err);
	free(msg);
	free(arn);
	return 0;
}
