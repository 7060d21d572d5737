/* What the command produced, and which of it is the success output.
 *
 * Rules this file decides where the contract is silent (README material):
 *
 * - SFN_OUTPUT is a memfd (the command inherits it), named
 *   /proc/<command pid>/fd/N: reachable from the command itself whatever
 *   uid it switched to, and from every descendant with the command's uid,
 *   even one whose parent closed its inherited descriptors (Python's
 *   subprocess does).  Not /proc/<agent pid>/fd/N: the agent is not
 *   dumpable (its memory holds credentials), so its /proc entry is closed
 *   to all but CAP_SYS_PTRACE.  Without /proc, /dev/fd/N, which needs the
 *   descriptor inherited.  Only when memfd_create is unavailable is it a
 *   private temporary file (mode 0600, created with O_EXCL by mkstemp),
 *   tried in $TMPDIR, /dev/shm, /tmp, /var/tmp and then the working
 *   directory, and read back by name without following a link or blocking,
 *   only if it is a regular file.  memfd needs no writable filesystem, so a
 *   read-only root without /tmp works.
 * - "Wrote anything to SFN_OUTPUT" means: the file holds something other than
 *   whitespace.  An empty or blank file counts as not written.
 * - SFN_OUTPUT and stdout are read up to OUTPUT_READ_MAX (4 MiB) so that a
 *   pretty-printed result that compacts below 262,144 bytes is accepted; the
 *   limit applies to the compacted JSON, which is what is sent.
 * - The trailing JSON of stdout: trailing whitespace is ignored; the text must
 *   end with '}' or ']'; a candidate is a line that begins with the matching
 *   '{' or '[' (spaces or tabs before it are allowed, so an indented result
 *   line works too); the candidate nearest the end that is valid JSON all
 *   the way to the end wins.  So a last line that is a
 *   JSON log record is taken as the output: print the result last.
 * - Stdout with no valid trailing JSON is `{}`, unless it clearly meant JSON
 *   and got it wrong: its last non-blank line begins with '{' (closed or
 *   not), or is a lone '}' or ']' (the end of a pretty-printed value).  Then
 *   it is OutputInvalid.  A last line such as "[INFO] done
 *   [ok]" is a log line, not a broken array, and gives `{}`.
 * - Stdout is kept up to OUTPUT_READ_MAX too (SUPERVISE_STDOUT_KEEP).  When
 *   more was printed, a candidate that starts at the very beginning of the
 *   kept tail, or an end that looks like broken JSON, is reported as longer
 *   than what is kept rather than guessed at.
 */
#include "wrapper/output.h"

#include "base/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int output_mode_parse(const char *s)
{
	static const char *const names[] = { "auto", "file", "stdout", "none" };
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* The command's fds 0-2 are its pipes, so ours must not sit there. */
static int move_above_stdio(int fd)
{
	if (fd > 2)
		return fd;
	int nfd = fcntl(fd, F_DUPFD, 3);
	int saved = errno;
	close(fd);
	errno = saved;
	return nfd;
}

static char *put_decimal(char *p, long v)
{
	char digits[24];
	int n = 0;
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	while (n > 0)
		*p++ = digits[--n];
	return p;
}

void outfile_proc_path(char *out, long pid, int fd)
{
	memcpy(out, "/proc/", 6);
	char *p = put_decimal(out + 6, pid);
	memcpy(p, "/fd/", 4);
	p = put_decimal(p + 4, fd);
	*p = '\0';
}

int outfile_open_tmp(struct outfile *f, const char *name, struct err *err)
{
	f->fd = -1;
	f->path[0] = '\0';
	f->tmp_path = NULL;
	f->by_pid = false;
	const char *dirs[] = { getenv("TMPDIR"), "/dev/shm", "/tmp", "/var/tmp", "." };
	int last_errno = 0;
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		if (!dirs[i] || !*dirs[i])
			continue;
		struct buf p = BUF_INIT;
		buf_printf(&p, "%s/sfn-agent-%s-XXXXXX", dirs[i], name);
		/* mkstemp: O_EXCL and mode 0600, so nobody else can plant or read it. */
		int fd = mkstemp(p.data);
		if (fd < 0) {
			last_errno = errno;
			buf_free(&p);
			continue;
		}
		fd = move_above_stdio(fd);
		if (fd < 0 || p.len >= sizeof f->path) {
			last_errno = fd < 0 ? errno : ENAMETOOLONG;
			if (fd >= 0)
				close(fd);
			unlink(p.data);
			buf_free(&p);
			continue;
		}
		f->fd = fd;
		memcpy(f->path, p.data, p.len + 1);
		f->tmp_path = buf_steal(&p);
		return 0;
	}
	return err_set(err,
		       "cannot create a file for SFN_OUTPUT (memfd_create failed and no writable temporary "
		       "directory: %s): set TMPDIR to a writable directory",
		       strerror(last_errno));
}

int outfile_open(struct outfile *f, const char *name, struct err *err)
{
	f->fd = -1;
	f->path[0] = '\0';
	f->tmp_path = NULL;
	f->by_pid = false;
	/* No MFD_CLOEXEC: the command must inherit it to reach it by path. */
	int fd = memfd_create(name, 0);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE))
		return err_set(err, "cannot create a file for SFN_OUTPUT (%s): raise the open files limit (ulimit -n)",
			       strerror(errno));
	if (fd >= 0)
		fd = move_above_stdio(fd);
	if (fd >= 0) {
		/* /proc/self/fd/N working here means /proc/<command>/fd/N
		 * will work for the command (the child writes its pid in);
		 * else /dev/fd/N. */
		static const char *const dirs[] = { "/proc/self/fd", "/dev/fd" };
		for (int i = 0; i < 2; i++) {
			snprintf(f->path, sizeof f->path, "%s/%d", dirs[i], fd);
			/* Make sure the name resolves to our file before handing it out. */
			struct stat a, b;
			if (stat(f->path, &a) == 0 && fstat(fd, &b) == 0 && a.st_ino == b.st_ino &&
			    a.st_dev == b.st_dev) {
				f->fd = fd;
				f->by_pid = i == 0;
				return 0;
			}
		}
		f->path[0] = '\0';
		close(fd);
	}
	return outfile_open_tmp(f, name, err);
}

int outfile_read(struct outfile *f, size_t max, struct buf *out, struct err *err)
{
	int fd = f->fd;
	int own = -1;
	/* The command may have replaced the temporary file (write + rename), so
	 * read what the name points at now; but never through a link, never
	 * waiting in open() (a FIFO put there would hang the agent before it
	 * reports), and only a regular file. */
	if (f->tmp_path) {
		own = open(f->tmp_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		struct stat st;
		if (own >= 0 && (fstat(own, &st) != 0 || !S_ISREG(st.st_mode))) {
			close(own);
			return err_set(err, "SFN_OUTPUT (%s) was replaced by something that is not a regular file: "
				       "write the result into the file itself", f->tmp_path);
		}
		if (own < 0 && errno == ELOOP)
			return err_set(err, "SFN_OUTPUT (%s) was replaced by a symbolic link, which is not "
				       "followed: write the result into the file itself", f->tmp_path);
		if (own >= 0)
			fd = own;
	}
	buf_reset(out);
	char chunk[65536];
	off_t off = 0;
	int rc = 0;
	while (out->len <= max) {
		size_t want = max + 1 - out->len;
		if (want > sizeof chunk)
			want = sizeof chunk;
		ssize_t n = pread(fd, chunk, want, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = err_set(err, "cannot read SFN_OUTPUT (%s): this is a bug, please report it",
				     strerror(errno));
			break;
		}
		if (n == 0)
			break;
		buf_append(out, chunk, (size_t)n);
		off += n;
	}
	if (own >= 0)
		close(own);
	return rc;
}

void outfile_close(struct outfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp_path) {
		unlink(f->tmp_path);
		free(f->tmp_path);
		f->tmp_path = NULL;
	}
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static struct span trim(struct span s)
{
	while (s.len && is_ws(s.ptr[0]))
		s.ptr++, s.len--;
	while (s.len && is_ws(s.ptr[s.len - 1]))
		s.len--;
	return s;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The first byte of the last line of s[0..end) that begins (after optional
 * indentation) with `open` and parses as JSON up to end; or NULL.  With
 * validate false, the nearest such line start regardless of validity; with
 * indented false, only lines that start with `open` itself count. */
static const char *find_candidate_in(struct span s, char open, bool validate, bool indented)
{
	size_t i = s.len;
	while (i > 0) {
		i--;
		if (i > 0 && s.ptr[i - 1] != '\n')
			continue;
		size_t p = i;
		while (indented && p < s.len && is_blank(s.ptr[p]))
			p++;
		if (p >= s.len || s.ptr[p] != open)
			continue;
		size_t off;
		if (!validate || json_validate(span_of(s.ptr + p, s.len - p), &off) == 0)
			return s.ptr + p;
	}
	return NULL;
}

static const char *find_candidate(struct span s, char open, bool validate)
{
	return find_candidate_in(s, open, validate, true);
}

struct span output_trailing_json(struct span tail)
{
	struct span none = { tail.ptr, 0 };
	while (tail.len && is_ws(tail.ptr[tail.len - 1]))
		tail.len--;
	if (tail.len == 0)
		return none;
	char close = tail.ptr[tail.len - 1];
	if (close != '}' && close != ']')
		return none;
	const char *p = find_candidate(tail, close == '}' ? '{' : '[', true);
	if (!p)
		return none;
	return span_of(p, (size_t)(tail.ptr + tail.len - p));
}

/* The last non-blank line of s (already trimmed at the end). */
static struct span last_line(struct span s)
{
	size_t i = s.len;
	while (i > 0 && s.ptr[i - 1] != '\n')
		i--;
	return span_of(s.ptr + i, s.len - i);
}

/* The last line starts with '{' (closed or not: `{"a":1` is a result cut
 * short, not a log line), or is a lone '}' or ']' (the end of a
 * pretty-printed value). */
static bool looks_meant_as_json(struct span s)
{
	s = trim(s);
	if (s.len == 0)
		return false;
	struct span line = trim(last_line(s));
	if (line.len == 0)
		return false;
	if (line.ptr[0] == '{')
		return true;
	return line.len == 1 && (line.ptr[0] == '}' || line.ptr[0] == ']');
}

static enum output_verdict too_large(size_t size, const char *where, struct err *err)
{
	err_set(err,
		"the output from %s is %zu bytes, more than the %d bytes Step Functions accepts: "
		"return a smaller result (for example a reference to an S3 object)",
		where, size, OUTPUT_MAX_BYTES);
	return OUTPUT_INVALID;
}

static enum output_verdict select_file(struct span file, struct buf *out, struct err *err)
{
	if (file.len > OUTPUT_READ_MAX) {
		err_set(err,
			"SFN_OUTPUT holds more than %d bytes, far more than the %d bytes Step Functions "
			"accepts: return a smaller result (for example a reference to an S3 object)",
			OUTPUT_READ_MAX, OUTPUT_MAX_BYTES);
		return OUTPUT_INVALID;
	}
	size_t off;
	if (json_compact(file, out, &off) != 0) {
		err_set(err, "SFN_OUTPUT is not valid JSON (offset %zu): write one JSON value to $SFN_OUTPUT",
			off);
		return OUTPUT_INVALID;
	}
	if (out->len > OUTPUT_MAX_BYTES)
		return too_large(out->len, "SFN_OUTPUT", err);
	return OUTPUT_VALID;
}

static enum output_verdict select_stdout(const struct tail *t, struct buf *out, struct err *err)
{
	struct span s = t ? tail_span(t) : span_of("", 0);
	bool truncated = t && tail_truncated(t);
	struct span j = output_trailing_json(s);
	if (j.len > 0) {
		const char *q = s.ptr;
		while (q < j.ptr && is_blank(*q))
			q++;
		if (truncated && q == j.ptr) {
			err_set(err,
				"standard output ends with JSON larger than the %zu bytes the agent keeps, more "
				"than the %d bytes Step Functions accepts: return a smaller result",
				s.len, OUTPUT_MAX_BYTES);
			return OUTPUT_INVALID;
		}
		size_t off;
		if (json_compact(j, out, &off) != 0) /* validated above; cannot happen */
			return OUTPUT_INVALID;
		if (out->len > OUTPUT_MAX_BYTES)
			return too_large(out->len, "standard output", err);
		return OUTPUT_VALID;
	}
	if (looks_meant_as_json(s)) {
		struct span ts = trim(s);
		char close = ts.ptr[ts.len - 1];
		/* More printed than kept: an indented line inside a pretty-printed
		 * value proves nothing, its start may be lost.  Only a line that
		 * starts at its first column, after what we kept begins, is a
		 * small broken result worth an offset. */
		const char *p = find_candidate_in(ts, close == ']' ? '[' : '{', false, !truncated);
		if (truncated && (!p || p == ts.ptr)) {
			err_set(err,
				"standard output ends with what looks like JSON, but the command printed more "
				"than the %zu bytes of standard output the agent keeps, so its start is lost: "
				"print a smaller or compact result, or write it to $SFN_OUTPUT",
				s.len);
			return OUTPUT_INVALID;
		}
		size_t off = 0;
		if (p) {
			json_validate(span_of(p, (size_t)(ts.ptr + ts.len - p)), &off);
			err_set(err,
				"standard output ends with what looks like JSON but is not valid JSON (offset "
				"%zu from the '%c' that starts its last JSON-looking line): print one valid JSON "
				"value as the last thing on standard output, or write it to $SFN_OUTPUT",
				off, *p);
		} else {
			err_set(err,
				"standard output ends with what looks like the end of a JSON value, but no line "
				"starts a valid one: print one valid JSON value as the last thing on standard "
				"output, or write it to $SFN_OUTPUT");
		}
		return OUTPUT_INVALID;
	}
	buf_puts(out, "{}");
	return OUTPUT_VALID;
}

enum output_verdict output_select(enum output_mode mode, const struct buf *file, const struct tail *stdout_tail,
				  struct buf *out, struct err *err)
{
	buf_reset(out);
	struct span f = file ? span_of(buf_cstr(file), file->len) : span_of("", 0);
	bool written = trim(f).len > 0;
	switch (mode) {
	case OUTPUT_AUTO:
		if (written)
			return select_file(f, out, err);
		return select_stdout(stdout_tail, out, err);
	case OUTPUT_FILE:
		if (written)
			return select_file(f, out, err);
		break;
	case OUTPUT_STDOUT:
		return select_stdout(stdout_tail, out, err);
	case OUTPUT_NONE:
		break;
	}
	buf_puts(out, "{}");
	return OUTPUT_VALID;
}
