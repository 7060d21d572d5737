/* What the command produced: SFN_OUTPUT, the trailing JSON of stdout, and the
 * success output chosen from them by --output. */
#ifndef SFN_OUTPUT_H
#define SFN_OUTPUT_H

#include "base/buf.h"
#include "base/err.h"
#include "base/input.h"

#include <stdbool.h>

enum output_mode { OUTPUT_AUTO, OUTPUT_FILE, OUTPUT_STDOUT, OUTPUT_NONE };

/* How much of SFN_OUTPUT (and of stdout's tail) is worth reading: more than
 * the limit, so that a pretty-printed result that compacts under the limit is
 * still accepted. */
#define OUTPUT_READ_MAX (16 * OUTPUT_MAX_BYTES)

int output_mode_parse(const char *s); /* -1 if unknown */

/* A file the command can write its result to, reachable by path in the
 * command's environment even with a read-only root and no /tmp: a memfd,
 * else a private temporary file.  The fd is inherited by the command.
 *
 * With /proc, the memfd's path is /proc/<command pid>/fd/N, through the
 * command's own descriptor table (by_pid; the path is only known once the
 * command's pid is, so the child writes it, outfile_proc_path).  So it is
 * reachable from the command after it drops privileges (the kernel always
 * lets a process into its own /proc entry) and from descendants of the
 * command's uid that closed their inherited descriptors, while the agent,
 * non-dumpable, keeps its own /proc entry (memory, descriptors) closed.
 * Without /proc, /dev/fd/N, which needs the descriptor inherited. */
struct outfile {
	int fd;
	char path[4096]; /* what the command gets in its environment */
	char *tmp_path; /* for the fallback, to unlink; NULL for memfd */
	bool by_pid;    /* path is /proc/self/fd/N here: the child writes its pid in */
};

/* Writes "/proc/<pid>/fd/<fd>" to out (room for 48 bytes).  Async-signal-safe:
 * for the child between fork and exec. */
void outfile_proc_path(char *out, long pid, int fd);

int outfile_open(struct outfile *f, const char *name, struct err *err);
/* The private temporary file alone (what outfile_open falls back to); for tests. */
int outfile_open_tmp(struct outfile *f, const char *name, struct err *err);
/* Reads the whole file (at most max+1 bytes; more means too large). */
int outfile_read(struct outfile *f, size_t max, struct buf *out, struct err *err);
void outfile_close(struct outfile *f);

/* The JSON at the end of stdout that begins at the start of a line (blanks
 * before it allowed) and is valid all the way to the end, or a zero-length
 * span when there is none. */
struct span output_trailing_json(struct span stdout_tail);

enum output_verdict { OUTPUT_VALID = 0, OUTPUT_INVALID = -1 };

/* Applies the --output rules and fills out with the compact JSON to send.
 * OUTPUT_INVALID with err set (one sentence, e.g. "SFN_OUTPUT is not valid
 * JSON: unexpected byte at offset 12") when the output breaks the rules. */
enum output_verdict output_select(enum output_mode mode, const struct buf *file, const struct tail *stdout_tail,
				  struct buf *out, struct err *err);

#endif
