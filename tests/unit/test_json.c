/* json_compact: strict RFC 8259 validation, compaction that keeps every token
 * byte for byte, and the offset of the first bad byte. */
#include "base/json.h"
#include "check.h"

#include <stdlib.h>

/* Compacts in; returns the result ("" and *off on error). */
static char *compact(const char *in, size_t *off)
{
	static struct buf out;
	size_t o = (size_t)-1;
	buf_free(&out);
	buf_puts(&out, "keep:");
	int rc = json_compact(span_str(in), &out, &o);
	if (off)
		*off = o;
	if (rc != 0) {
		/* out must be left as it was. */
		CHECK(out.len == 5 && strcmp(out.data, "keep:") == 0);
		return NULL;
	}
	return out.data + 5;
}

static void test_valid_compacted(void)
{
	CHECK_STR(compact(" { \"a\" : 1 ,\n\t\"b\" : [ true , false , null ] } \n", NULL),
		  "{\"a\":1,\"b\":[true,false,null]}");
	CHECK_STR(compact("{}", NULL), "{}");
	CHECK_STR(compact("[ ]", NULL), "[]");
	CHECK_STR(compact("\"just a string\"", NULL), "\"just a string\"");
	CHECK_STR(compact(" 0 ", NULL), "0");
	CHECK_STR(compact("-0.5e-3", NULL), "-0.5e-3");
	CHECK_STR(compact("{\"a\":{\"b\":{\"c\":[[],{}]}}}", NULL), "{\"a\":{\"b\":{\"c\":[[],{}]}}}");
}

static void test_numbers_byte_exact(void)
{
	CHECK_STR(compact("{\"n\": 12345678901234567890123}", NULL), "{\"n\":12345678901234567890123}");
	CHECK_STR(compact("[1.50e3, 1E+2, 0.10, -7]", NULL), "[1.50e3,1E+2,0.10,-7]");
}

static void test_strings_byte_exact(void)
{
	CHECK_STR(compact("{\"s\": \"a \\u00e9 \\n \\\" \\/ \\\\ caf\xc3\xa9 \xf0\x9f\x98\x80\"}", NULL),
		  "{\"s\":\"a \\u00e9 \\n \\\" \\/ \\\\ caf\xc3\xa9 \xf0\x9f\x98\x80\"}");
	/* Whitespace inside strings is content, not layout. */
	CHECK_STR(compact("[\"  a  b  \"]", NULL), "[\"  a  b  \"]");
	/* A lone surrogate escape is valid JSON text. */
	CHECK_STR(compact("\"\\ud800\"", NULL), "\"\\ud800\"");
}

static void test_invalid(void)
{
	size_t off;
	CHECK(compact("", &off) == NULL && off == 0);
	CHECK(compact("   ", &off) == NULL && off == 3);
	CHECK(compact("{\"a\":1,}", &off) == NULL && off == 7);
	CHECK(compact("[1,]", &off) == NULL && off == 3);
	CHECK(compact("{'a':1}", &off) == NULL && off == 1);
	CHECK(compact("{\"a\" 1}", &off) == NULL && off == 5);
	CHECK(compact("[01]", &off) == NULL && off == 2);
	CHECK(compact("[1.]", &off) == NULL && off == 3);
	CHECK(compact("[1e]", &off) == NULL && off == 3);
	CHECK(compact("[+1]", &off) == NULL && off == 1);
	CHECK(compact("[-]", &off) == NULL && off == 2);
	CHECK(compact("[tru]", &off) == NULL && off == 4);
	CHECK(compact("[nul", &off) == NULL && off == 4);
	CHECK(compact("\"abc", &off) == NULL && off == 4);
	CHECK(compact("\"a\tb\"", &off) == NULL && off == 2);
	CHECK(compact("\"\\x\"", &off) == NULL && off == 2);
	CHECK(compact("\"\\u12g4\"", &off) == NULL && off == 5);
	CHECK(compact("[1", &off) == NULL && off == 2);
	CHECK(compact("[1}", &off) == NULL && off == 2);
	CHECK(compact("{\"a\":1]", &off) == NULL && off == 6);
	CHECK(compact("NaN", &off) == NULL && off == 0);
	CHECK(compact("{\"a\":Infinity}", &off) == NULL && off == 5);
	CHECK(compact("{} x", &off) == NULL && off == 3);
	CHECK(compact("{}{}", &off) == NULL && off == 2);
	CHECK(compact("1 2", &off) == NULL && off == 2);
	CHECK(compact("\xef\xbb\xbf{}", &off) == NULL && off == 0); /* a BOM is not JSON */
}

static void test_invalid_utf8(void)
{
	size_t off;
	CHECK(compact("\"ab\xff\"", &off) == NULL && off == 3);
	CHECK(compact("\"\xc0\xaf\"", &off) == NULL && off == 1);          /* overlong */
	CHECK(compact("\"\xed\xa0\x80\"", &off) == NULL && off == 1);      /* encoded surrogate */
	CHECK(compact("\"\xe2\x82\"", &off) == NULL && off == 1);          /* truncated */
	CHECK(compact("\"\xf4\x90\x80\x80\"", &off) == NULL && off == 1);  /* > U+10FFFF */
	CHECK(compact("[\xc3\xa9]", &off) == NULL && off == 1);            /* outside a string */
}

static void test_nul_byte(void)
{
	struct buf out = BUF_INIT;
	size_t off;
	CHECK(json_compact(span_of("[1]\0", 4), &out, &off) != 0 && off == 3);
	CHECK(json_compact(span_of("\"a\0\"", 4), &out, &off) != 0 && off == 2);
	buf_free(&out);
}

static void test_depth_limit(void)
{
	struct buf in = BUF_INIT;
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		buf_putc(&in, '[');
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		buf_putc(&in, ']');
	size_t off;
	CHECK(json_validate(span_of(in.data, in.len), &off) == 0);
	buf_reset(&in);
	for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
		buf_putc(&in, '[');
	for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
		buf_putc(&in, ']');
	CHECK(json_validate(span_of(in.data, in.len), &off) != 0 && off == JSON_MAX_DEPTH);
	/* A million brackets: refused, no stack overflow. */
	buf_reset(&in);
	for (int i = 0; i < 1000000; i++)
		buf_putc(&in, i % 2 ? '[' : '{');
	CHECK(json_validate(span_of(in.data, in.len), &off) != 0);
	buf_free(&in);
}

static void test_big_document(void)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	buf_puts(&in, "[\n");
	for (int i = 0; i < 20000; i++)
		buf_printf(&in, "  {\"i\": %d, \"s\": \"x\"}%s\n", i, i < 19999 ? "," : "");
	buf_puts(&in, "]");
	size_t off;
	CHECK(json_compact(span_of(in.data, in.len), &out, &off) == 0);
	CHECK(out.len < in.len && strncmp(out.data, "[{\"i\":0,\"s\":\"x\"},{\"i\":1,", 24) == 0);
	buf_free(&in);
	buf_free(&out);
}

int main(void)
{
	RUN(test_valid_compacted);
	RUN(test_numbers_byte_exact);
	RUN(test_strings_byte_exact);
	RUN(test_invalid);
	RUN(test_invalid_utf8);
	RUN(test_nul_byte);
	RUN(test_depth_limit);
	RUN(test_big_document);
	return CHECK_DONE();
}
