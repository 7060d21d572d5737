/* Log lines: one message is one line, whatever text it quotes. */
#include "check.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* What log_msg wrote to stderr (fd 2), read back from a temporary file. */
static void logged(enum log_format fmt, const char *msg, char *out, size_t size)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	if (!f || saved < 0 || dup2(fileno(f), STDERR_FILENO) < 0) {
		perror("test_log");
		exit(2);
	}
	log_setup(LOG_INFO, fmt);
	log_msg(LOG_ERROR, "%s", msg);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	size_t n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	fclose(f);
}

static void test_text_one_line(void)
{
	char out[512];
	logged(LOG_TEXT, "creds said: bad\nsfn-agent: forged line\r\x1b[31mred\x7f\tend", out, sizeof out);
	CHECK_STR(out, "sfn-agent: error: creds said: bad sfn-agent: forged line  [31mred \tend\n");
}

static void test_json_escapes(void)
{
	char out[512];
	logged(LOG_JSON, "a\nb", out, sizeof out);
	CHECK(strstr(out, "\"msg\":\"a\\nb\"}\n") != NULL);
	CHECK(strchr(out, '\n') == out + strlen(out) - 1);
}

/* C1 controls (U+0080..U+009F: U+009B is a one-character CSI for many
 * terminals), the line and paragraph separators, and bytes that are not
 * UTF-8 never reach stderr as they are, in either format. */
static void test_c1_filtered(void)
{
	char out[512];
	logged(LOG_TEXT, "a\xc2\x9b" "31mb\xc2\x85" "c\xe2\x80\xa8" "d\xe2\x80\xa9" "e\x9b" "f \xc3\xa9 \xe2\x82\xac", out,
	       sizeof out);
	CHECK(strstr(out, "\xc2\x9b") == NULL);
	CHECK(strstr(out, "\xc2\x85") == NULL);
	CHECK(strstr(out, "\xe2\x80\xa8") == NULL);
	CHECK(strstr(out, "\xe2\x80\xa9") == NULL);
	CHECK(strchr(out, '\x9b') == NULL);
	/* Printable text, accented letters included, stays. */
	CHECK(strstr(out, "31mb") != NULL);
	CHECK(strstr(out, "f \xc3\xa9 \xe2\x82\xac\n") != NULL);
	logged(LOG_JSON, "a\xc2\x9b" "b\xe2\x80\xa8" "c", out, sizeof out);
	CHECK(strstr(out, "\xc2\x9b") == NULL);
	CHECK(strstr(out, "\xe2\x80\xa8") == NULL);
	CHECK(strstr(out, "\"msg\":\"a\\u009bb\\u2028c\"}") != NULL);
}

int main(void)
{
	RUN(test_text_one_line);
	RUN(test_json_escapes);
	RUN(test_c1_filtered);
	return CHECK_DONE();
}
