/* json_compact / json_validate (base/json.c) on arbitrary bytes: the
 * validator behind SFN_OUTPUT and stdout's trailing JSON. */
#include "fuzz.h"

#include "base/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span in = span_of((const char *)data, size);
	struct buf out = BUF_INIT;
	buf_puts(&out, "keep");
	size_t off = (size_t)-1, voff = (size_t)-1;
	int rc = json_compact(in, &out, &off);
	int vrc = json_validate(in, &voff);
	FUZZ_CHECK(rc == vrc);
	if (rc == 0) {
		FUZZ_CHECK(out.len >= 4 && memcmp(out.data, "keep", 4) == 0);
		struct span c = span_of(out.data + 4, out.len - 4);
		FUZZ_CHECK(c.len > 0 && c.len <= size);
		FUZZ_CHECK(fuzz_utf8_valid(c.ptr, c.len));
		/* Compact output validates and is a fixed point. */
		struct buf again = BUF_INIT;
		size_t off2;
		FUZZ_CHECK(json_compact(c, &again, &off2) == 0);
		FUZZ_CHECK(again.len == c.len && memcmp(again.data, c.ptr, c.len) == 0);
		buf_free(&again);
	} else {
		FUZZ_CHECK(off == voff);
		FUZZ_CHECK(off <= size);
		FUZZ_CHECK(out.len == 4 && memcmp(out.data, "keep", 4) == 0);
	}
	buf_free(&out);
	return 0;
}
