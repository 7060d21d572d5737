/* Trailing-JSON detection and the --output rules (wrapper/output.c) on what
 * a command may print to stdout and write to SFN_OUTPUT. */
#include "fuzz.h"

#include "base/err.h"
#include "base/json.h"
#include "wrapper/output.h"

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void check_trailing(struct span s)
{
	struct span j = output_trailing_json(s);
	if (j.len == 0)
		return;
	/* Inside the input, a suffix up to trailing whitespace, starting a line
	 * after optional indentation, and valid JSON. */
	FUZZ_CHECK(j.ptr >= s.ptr && j.ptr + j.len <= s.ptr + s.len);
	for (const char *p = j.ptr + j.len; p < s.ptr + s.len; p++)
		FUZZ_CHECK(is_ws(*p));
	FUZZ_CHECK(j.ptr[0] == '{' || j.ptr[0] == '[');
	const char *q = j.ptr;
	while (q > s.ptr && (q[-1] == ' ' || q[-1] == '\t'))
		q--;
	FUZZ_CHECK(q == s.ptr || q[-1] == '\n');
	size_t off;
	FUZZ_CHECK(json_validate(j, &off) == 0);
}

static void check_select(enum output_mode mode, const struct buf *file, const struct tail *t)
{
	struct buf out = BUF_INIT;
	struct err err = { "" };
	enum output_verdict v = output_select(mode, file, t, &out, &err);
	if (v == OUTPUT_VALID) {
		size_t off;
		FUZZ_CHECK(out.len > 0 && out.len <= OUTPUT_MAX_BYTES);
		FUZZ_CHECK(json_validate(span_of(out.data, out.len), &off) == 0);
		/* Already compact. */
		struct buf again = BUF_INIT;
		FUZZ_CHECK(json_compact(span_of(out.data, out.len), &again, &off) == 0);
		FUZZ_CHECK(again.len == out.len);
		buf_free(&again);
	} else {
		FUZZ_CHECK(v == OUTPUT_INVALID);
		FUZZ_CHECK(fuzz_one_sentence(err.msg));
	}
	buf_free(&out);
}

/* Input: mode byte, then the SFN_OUTPUT file and stdout separated by the
 * first NUL (stdout alone when there is none); a flag bit keeps only a tail of
 * stdout, as the agent does for a long stream. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_trailing(span_of((const char *)data, size));
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	data++, size--;
	const uint8_t *nul = memchr(data, '\0', size);
	struct buf file = BUF_INIT;
	struct span so = span_of((const char *)data, size);
	if (nul) {
		buf_append(&file, data, (size_t)(nul - data));
		so = span_of((const char *)nul + 1, size - (size_t)(nul - data) - 1);
	}
	struct tail t = { BUF_INIT, so.len, 0 };
	if (flags & 4)
		t.max = so.len / 2 + 1; /* bytes dropped from the front */
	tail_append(&t, so.ptr, so.len);
	check_trailing(tail_span(&t));
	check_select((enum output_mode)(flags & 3), nul ? &file : NULL, &t);
	buf_free(&t.b);
	buf_free(&file);
	return 0;
}
