/* The success output: SFN_OUTPUT, the trailing JSON of stdout, --output
 * modes, the size limit, and the file the command writes to. */
#include "wrapper/output.h"
#include "check.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *trailing(const char *s)
{
	static char got[4096];
	struct span j = output_trailing_json(span_str(s));
	if (j.len == 0)
		return NULL;
	snprintf(got, sizeof got, "%.*s", (int)j.len, j.ptr);
	return got;
}

static void test_trailing_json(void)
{
	CHECK_STR(trailing("{\"a\":1}"), "{\"a\":1}");
	CHECK_STR(trailing("{\"a\":1}\n\n  \n"), "{\"a\":1}");
	CHECK_STR(trailing("starting\nworking...\n{\"a\": 1, \"b\": [1, 2]}\n"), "{\"a\": 1, \"b\": [1, 2]}");
	CHECK_STR(trailing("log\n{\n  \"a\": {\n    \"b\": 1\n  },\n  \"c\": [\n    {\n      \"d\": 2\n    }\n  ]\n}\n"),
		  "{\n  \"a\": {\n    \"b\": 1\n  },\n  \"c\": [\n    {\n      \"d\": 2\n    }\n  ]\n}");
	CHECK_STR(trailing("[INFO] start\n[INFO] done\n[1, 2, 3]\n"), "[1, 2, 3]");
	CHECK_STR(trailing("x\n[\n{\"a\":1},\n{\"b\":2}\n]\n"), "[\n{\"a\":1},\n{\"b\":2}\n]");
	/* The nearest valid line wins: a JSON log line printed last is taken. */
	CHECK_STR(trailing("{\"result\":1}\n{\"level\":\"info\",\"msg\":\"bye\"}\n"),
		  "{\"level\":\"info\",\"msg\":\"bye\"}");
	/* An object nested in an array, starting at column 0, does not cut the
	 * array short. */
	CHECK_STR(trailing("{\"a\":[\n{\"b\":1}\n]}\n"), "{\"a\":[\n{\"b\":1}\n]}");
	/* JSON that does not begin a line is not the output. */
	CHECK(trailing("result: {\"a\":1}\n") == NULL);
	CHECK(trailing("[INFO] finished [ok]\n") == NULL);
	CHECK(trailing("{\"a\":1}\ndone\n") == NULL);
	CHECK(trailing("") == NULL);
	CHECK(trailing("\n\n") == NULL);
	CHECK(trailing("{\"a\":1}\n{\"broken\":}\n") == NULL);
}

static struct tail tail_of(const char *s, size_t max)
{
	struct tail t = { BUF_INIT, max, 0 };
	tail_append(&t, s, strlen(s));
	return t;
}

/* Runs output_select; returns the output, or NULL with *msg set. */
static char *sel(enum output_mode mode, const char *file, const char *out_text, char **msg)
{
	static struct buf out;
	static struct err e;
	struct buf f = BUF_INIT;
	if (file)
		buf_puts(&f, file);
	struct tail t = tail_of(out_text ? out_text : "", 1 << 20);
	e.msg[0] = '\0';
	enum output_verdict v = output_select(mode, &f, &t, &out, &e);
	buf_free(&f);
	buf_free(&t.b);
	if (msg)
		*msg = e.msg;
	return v == OUTPUT_VALID ? out.data : NULL;
}

static void test_auto_mode(void)
{
	char *msg;
	CHECK_STR(sel(OUTPUT_AUTO, "{ \"f\" : 1 }\n", "{\"s\":1}\n", NULL), "{\"f\":1}");
	CHECK_STR(sel(OUTPUT_AUTO, "", "{\"s\": 1}\n", NULL), "{\"s\":1}");
	CHECK_STR(sel(OUTPUT_AUTO, " \n", "[1, 2]", NULL), "[1,2]");
	CHECK_STR(sel(OUTPUT_AUTO, NULL, "no json here\n", NULL), "{}");
	CHECK_STR(sel(OUTPUT_AUTO, NULL, "", NULL), "{}");
	CHECK_STR(sel(OUTPUT_AUTO, NULL, "[INFO] done [ok]\n", NULL), "{}");
	CHECK_STR(sel(OUTPUT_AUTO, NULL, "{\"n\": 12345678901234567890123, \"x\": 1.50e3}", NULL),
		  "{\"n\":12345678901234567890123,\"x\":1.50e3}");
	/* A file that is not JSON is never replaced by stdout or {}. */
	CHECK(sel(OUTPUT_AUTO, "{\"a\":1,}", "{\"s\":1}", &msg) == NULL);
	CHECK_STR(msg, "SFN_OUTPUT is not valid JSON (offset 7): write one JSON value to $SFN_OUTPUT");
	/* Stdout that clearly meant an object but is broken. */
	CHECK(sel(OUTPUT_AUTO, NULL, "log\n{\"a\": 1,}\n", &msg) == NULL);
	CHECK(strstr(msg, "not valid JSON (offset 8") != NULL);
	CHECK(sel(OUTPUT_AUTO, NULL, "log\n{\n  \"a\": nope\n}\n", &msg) == NULL);
	CHECK(strstr(msg, "not valid JSON") != NULL);
}

static void test_other_modes(void)
{
	CHECK_STR(sel(OUTPUT_FILE, "[true]", "{\"s\":1}", NULL), "[true]");
	CHECK_STR(sel(OUTPUT_FILE, "", "{\"s\":1}", NULL), "{}");
	CHECK(sel(OUTPUT_FILE, "nope", "{\"s\":1}", NULL) == NULL);
	CHECK_STR(sel(OUTPUT_STDOUT, "{\"f\":1}", "{\"s\":1}", NULL), "{\"s\":1}");
	CHECK_STR(sel(OUTPUT_STDOUT, "{\"f\":1}", "plain", NULL), "{}");
	/* README: a last line that starts with '{' and does not parse is
	 * OutputInvalid, closed or not. */
	CHECK(sel(OUTPUT_STDOUT, "{\"f\":1}", "{\"s\":", NULL) == NULL);
	CHECK(sel(OUTPUT_AUTO, "", "log\n{\"a\":1\n", NULL) == NULL);
	CHECK_STR(sel(OUTPUT_NONE, "{\"f\":1}", "{\"s\":1}", NULL), "{}");
	CHECK_STR(sel(OUTPUT_NONE, "broken", "{broken}", NULL), "{}");
	CHECK(output_mode_parse("auto") == OUTPUT_AUTO && output_mode_parse("file") == OUTPUT_FILE &&
	      output_mode_parse("stdout") == OUTPUT_STDOUT && output_mode_parse("none") == OUTPUT_NONE &&
	      output_mode_parse("AUTO") == -1 && output_mode_parse("") == -1);
}

/* {"a":"xxx..."} of exactly n bytes once compacted, pretty-printed with spaces. */
static void make_sized(struct buf *b, size_t n)
{
	buf_reset(b);
	buf_puts(b, "{\n  \"a\": \"");
	for (size_t i = 0; i < n - 8; i++)
		buf_putc(b, 'x');
	buf_puts(b, "\"\n}\n");
}

static void test_size_limit(void)
{
	struct buf b = BUF_INIT, out = BUF_INIT;
	struct err e;
	struct tail empty = { BUF_INIT, 100, 0 };
	make_sized(&b, OUTPUT_MAX_BYTES);
	CHECK(output_select(OUTPUT_AUTO, &b, &empty, &out, &e) == OUTPUT_VALID && out.len == OUTPUT_MAX_BYTES);
	make_sized(&b, OUTPUT_MAX_BYTES + 1);
	CHECK(output_select(OUTPUT_AUTO, &b, &empty, &out, &e) == OUTPUT_INVALID);
	CHECK(strstr(e.msg, "262145 bytes") && strstr(e.msg, "262144"));

	/* The same through stdout. */
	struct buf none = BUF_INIT;
	make_sized(&b, OUTPUT_MAX_BYTES);
	struct tail t = tail_of("", OUTPUT_READ_MAX);
	tail_append(&t, "log line\n", 9);
	tail_append(&t, b.data, b.len);
	CHECK(output_select(OUTPUT_STDOUT, &none, &t, &out, &e) == OUTPUT_VALID && out.len == OUTPUT_MAX_BYTES);
	buf_free(&t.b);
	make_sized(&b, OUTPUT_MAX_BYTES + 1);
	t = tail_of("", OUTPUT_READ_MAX);
	tail_append(&t, b.data, b.len);
	CHECK(output_select(OUTPUT_STDOUT, &none, &t, &out, &e) == OUTPUT_INVALID);
	buf_free(&t.b);

	/* A result bigger than the kept tail: the kept part starts inside it. */
	make_sized(&b, 5000);
	t = tail_of("", 1000);
	tail_append(&t, b.data, b.len);
	CHECK(output_select(OUTPUT_STDOUT, &none, &t, &out, &e) == OUTPUT_INVALID);
	CHECK(strstr(e.msg, "more than the 1000 bytes") && strstr(e.msg, "$SFN_OUTPUT"));
	buf_free(&t.b);
	/* ...and when the cut happens to land on a line start. */
	buf_reset(&b);
	for (int i = 0; i < 100; i++)
		buf_puts(&b, "{\"line\": \"....................\"}\n");
	t = tail_of("", 1000);
	tail_append(&t, "[\n", 2);
	tail_append(&t, b.data, b.len);
	tail_append(&t, "{\"z\":1}\n", 8);
	CHECK(output_select(OUTPUT_STDOUT, &none, &t, &out, &e) == OUTPUT_VALID);
	CHECK_STR(out.data, "{\"z\":1}");
	buf_free(&t.b);
	/* A pretty-printed result longer than the tail: its indented inner
	 * lines start with '{' but are not a result; say it is too long. */
	buf_reset(&b);
	buf_puts(&b, "{\n  \"rows\": [\n");
	for (int i = 0; i < 100; i++)
		buf_puts(&b, "    {\n      \"id\": 1\n    },\n");
	buf_puts(&b, "    {\n      \"id\": 2\n    }\n  ]\n}\n");
	t = tail_of("", 1000);
	tail_append(&t, b.data, b.len);
	CHECK(output_select(OUTPUT_STDOUT, &none, &t, &out, &e) == OUTPUT_INVALID);
	CHECK(strstr(e.msg, "more than the 1000 bytes") && strstr(e.msg, "$SFN_OUTPUT") && !strstr(e.msg, "offset"));
	buf_free(&t.b);
	/* Lots of logs, then a small broken result: broken, not "too large". */
	t = tail_of("", 1000);
	for (int i = 0; i < 100; i++)
		tail_append(&t, "some log line\n", 14);
	tail_append(&t, "{'a': 1}\n", 9);
	CHECK(output_select(OUTPUT_STDOUT, &none, &t, &out, &e) == OUTPUT_INVALID);
	CHECK(strstr(e.msg, "not valid JSON (offset 1 ") != NULL);
	buf_free(&t.b);
	/* SFN_OUTPUT far beyond what is read. */
	buf_reset(&b);
	for (size_t i = 0; i < OUTPUT_READ_MAX + 1; i++)
		buf_putc(&b, ' ');
	buf_putc(&b, '1');
	CHECK(output_select(OUTPUT_FILE, &b, &empty, &out, &e) == OUTPUT_INVALID);
	buf_free(&b);
	buf_free(&out);
}

static void check_outfile(int (*open_fn)(struct outfile *, const char *, struct err *))
{
	struct outfile f;
	struct err e;
	struct buf got = BUF_INIT;
	CHECK(open_fn(&f, "test-output", &e) == 0);
	CHECK(f.fd > 2);
	CHECK(f.path[0] == '/' || f.path[0] == '.');
	/* A child reaches it by path, as the command will. */
	pid_t pid = fork();
	if (pid == 0) {
		setenv("SFN_OUTPUT", f.path, 1);
		execl("/bin/sh", "sh", "-c", "echo '{\"from\":\"child\"}' > \"$SFN_OUTPUT\"", (char *)NULL);
		_exit(127);
	}
	int status = -1;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(outfile_read(&f, 100, &got, &e) == 0);
	CHECK_STR(got.data, "{\"from\":\"child\"}\n");
	/* At most max+1 bytes, so "too large" can be told apart. */
	CHECK(outfile_read(&f, 3, &got, &e) == 0 && got.len == 4);
	char *tmp = f.tmp_path ? xstrdup(f.tmp_path) : NULL;
	outfile_close(&f);
	CHECK(f.fd == -1);
	/* The fallback file is removed, and was private. */
	if (tmp)
		CHECK(access(tmp, F_OK) != 0);
	free(tmp);
	buf_free(&got);
}

static void test_outfile(void)
{
	check_outfile(outfile_open);
}

static void test_outfile_fallback(void)
{
	struct outfile f;
	struct err e;
	struct stat st;
	check_outfile(outfile_open_tmp);
	CHECK(outfile_open_tmp(&f, "test-mode", &e) == 0);
	CHECK(f.tmp_path != NULL && stat(f.tmp_path, &st) == 0 && (st.st_mode & 0777) == 0600);
	outfile_close(&f);
	/* $TMPDIR first. */
	char dir[] = "/tmp/sfn-test-dir-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	setenv("TMPDIR", dir, 1);
	CHECK(outfile_open_tmp(&f, "test-dir", &e) == 0);
	CHECK(strncmp(f.path, dir, strlen(dir)) == 0);
	outfile_close(&f);
	unsetenv("TMPDIR");
	rmdir(dir);
}

/* The fallback file is read back by name: a command that replaces it with a
 * FIFO must not hang the agent in open() (it would never report), and a
 * symbolic link is not followed (it could point at any file the agent can
 * read).  alarm() is the watchdog: a hang kills the test. */
static void hung(int sig)
{
	static const char line[] = "FAIL test_outfile_fallback_replaced\n  outfile_read hung on a FIFO\n";
	ssize_t w = write(1, line, sizeof line - 1);
	(void)w, (void)sig;
	_exit(1);
}

static void test_outfile_fallback_replaced(void)
{
	signal(SIGALRM, hung);
	struct outfile f;
	struct err e;
	struct buf got = BUF_INIT;
	CHECK(outfile_open_tmp(&f, "test-fifo", &e) == 0);
	CHECK(unlink(f.tmp_path) == 0 && mkfifo(f.tmp_path, 0600) == 0);
	alarm(5);
	CHECK(outfile_read(&f, 100, &got, &e) != 0 && strstr(e.msg, "not a regular file"));
	alarm(0);
	outfile_close(&f);

	CHECK(outfile_open_tmp(&f, "test-link", &e) == 0);
	CHECK(unlink(f.tmp_path) == 0 && symlink("/etc/hostname", f.tmp_path) == 0);
	CHECK(outfile_read(&f, 100, &got, &e) != 0 && strstr(e.msg, "symbolic link"));
	CHECK(got.len == 0);
	outfile_close(&f);

	/* Replaced by a regular file (write + rename): that one is read. */
	CHECK(outfile_open_tmp(&f, "test-rename", &e) == 0);
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.new", f.tmp_path);
	FILE *w = fopen(tmp, "w");
	CHECK(w && fputs("{\"renamed\":1}", w) >= 0 && fclose(w) == 0);
	CHECK(rename(tmp, f.tmp_path) == 0);
	CHECK(outfile_read(&f, 100, &got, &e) == 0);
	CHECK_STR(buf_cstr(&got), "{\"renamed\":1}");
	outfile_close(&f);
	buf_free(&got);
}

int main(void)
{
	RUN(test_trailing_json);
	RUN(test_auto_mode);
	RUN(test_other_modes);
	RUN(test_size_limit);
	RUN(test_outfile);
	RUN(test_outfile_fallback);
	RUN(test_outfile_fallback_replaced);
	return CHECK_DONE();
}
