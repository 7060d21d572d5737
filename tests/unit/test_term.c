/* term_escape: server text printed on a terminal runs no escape sequence, and
 * ordinary text (UTF-8 included) is shown as it is. */
#include "check.h"

#include "base/term.h"

#include <stdlib.h>

/* Literals may hold NUL bytes: their length is their size less the final NUL. */
#define EXPECT(in, want) expect(in, sizeof in - 1, want)

static void expect(const char *in, size_t n, const char *want)
{
	struct buf b = BUF_INIT;
	term_escape(&b, in, n);
	CHECK_STR(buf_cstr(&b), want);
	buf_free(&b);
}

static void test_plain_text_unchanged(void)
{
	EXPECT("Task failed: exit 3", "Task failed: exit 3");
	EXPECT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

/* The sequences the security review used: OSC 52 clipboard write, clear screen, window title. */
static void test_escape_sequences_neutralised(void)
{
	EXPECT("\x1b]52;c;ZWNobyBoaQ==\x07", "\\e]52;c;ZWNobyBoaQ==\\x07");
	EXPECT("\x1b[2J", "\\e[2J");
	EXPECT("\x1b]0;title\x1b\\", "\\e]0;title\\e\\");
	EXPECT("a\nb\tc\rd\x7f", "a\\nb\\tc\\rd\\x7f");
	EXPECT("nul\0x", "nul\\x00x");
}

static void test_c1_and_separators(void)
{
	/* U+009B (CSI as a C1 character), U+0085 (NEL), U+2028, U+2029. */
	EXPECT("\xc2\x9b" "2J", "\\u009b2J");
	EXPECT("\xc2\x85", "\\u0085");
	EXPECT("a\xe2\x80\xa8" "b\xe2\x80\xa9", "a\\u2028b\\u2029");
	/* Raw 0x9b is not UTF-8; an 8-bit terminal would read it as CSI. */
	EXPECT("\x9b" "2J", "\\x9b2J");
	EXPECT("\xc3", "\\xc3");                  /* cut short */
	EXPECT("\xed\xa0\x80", "\\xed\\xa0\\x80"); /* a surrogate */
	EXPECT("\xc0\xaf", "\\xc0\\xaf");         /* overlong */
}

/* A JSON cause keeps its escapes as written: it can be pasted into jq. */
static void test_backslash_kept(void)
{
	EXPECT("{\"stderrTail\":\"disk full\\n\"}", "{\"stderrTail\":\"disk full\\n\"}");
}

static void test_escape_str(void)
{
	char *s = term_escape_str("x\x1by");
	CHECK_STR(s, "x\\ey");
	free(s);
	s = term_escape_str(NULL);
	CHECK_STR(s, "");
	free(s);
}

int main(void)
{
	RUN(test_plain_text_unchanged);
	RUN(test_escape_sequences_neutralised);
	RUN(test_c1_and_separators);
	RUN(test_backslash_kept);
	RUN(test_escape_str);
	return CHECK_DONE();
}
