/* Running the command: spawn it in its own process group, relay its output,
 * forward signals, reap every child, enforce the timeout, and call back the
 * run mode on a timer (heartbeats) -- all in one event loop, no threads.
 *
 * Nothing here knows about AWS.  The run mode hands in a tick callback; the
 * wrapper hands back a struct command_result. */
#ifndef SFN_SUPERVISE_H
#define SFN_SUPERVISE_H

#include "base/buf.h"
#include "base/err.h"
#include "base/sys.h"
#include "wrapper/output.h"

#include <stdbool.h>
#include <stdint.h>

enum signal_target { TARGET_GROUP, TARGET_CHILD };

enum stop_reason {
	STOP_NONE = 0,
	STOP_SIGNAL,     /* the agent got SIGTERM or SIGINT */
	STOP_TIMEOUT,    /* --timeout elapsed */
	STOP_TOKEN_LOST, /* the tick callback asked to stop the command */
};

struct supervise_tick {
	void *ctx;
	/* Called when the monotonic clock reaches next_ms.  Returns the next
	 * time to be called (ms, monotonic) or -1 for never.  Sets *stop to ask
	 * the wrapper to terminate the command (STOP_TOKEN_LOST). */
	int64_t (*fn)(void *ctx, int64_t now_ms, bool *stop);
	int64_t next_ms; /* first call; -1 for never */
};

struct supervise_config {
	const struct sys *sys;
	char *const *argv;
	int64_t timeout_ms;  /* 0: none */
	int64_t grace_ms;    /* SIGTERM -> SIGKILL */
	enum signal_target signal_target;
	struct supervise_tick tick;
	size_t stdout_keep;  /* bytes of stdout tail to keep for the output */
	size_t stderr_keep;  /* bytes of stderr tail to keep for the cause */
};

/* The tails the run mode keeps: as much stdout as SFN_OUTPUT is read (a
 * pretty-printed result many times its compact size still fits), and
 * enough stderr for a cause. */
#define SUPERVISE_STDOUT_KEEP ((size_t)OUTPUT_READ_MAX)
#define SUPERVISE_STDERR_KEEP (64u * 1024)

struct command_result {
	bool started;        /* false: exec failed (exec_errno says why) */
	int exec_errno;
	int exit_code;       /* -1 when killed by a signal */
	int term_signal;     /* 0 when it exited */
	double duration_s;
	enum stop_reason stop;
	int stop_signal;     /* for STOP_SIGNAL: which one */
	bool killed_by_agent; /* the signal that ended it came from the agent */
	struct tail stdout_tail;
	struct tail stderr_tail;
	struct buf output_file; /* what the command wrote to SFN_OUTPUT */
	struct buf report_mark; /* what `sfn-agent send-*` wrote to SFN_AGENT_REPORT_MARK */
	char *command;          /* argv[0], for messages */
	/* exec said ENOENT of a file that exists: the interpreter its "#!"
	 * line names (as written, a trailing \r included), or "" for a binary
	 * whose program interpreter (dynamic loader) is missing.  NULL when
	 * the command itself was not found. */
	char *missing_interpreter;
	int64_t timeout_ms;     /* cfg->timeout_ms, for messages */
	int agent_signal;       /* SIGTERM/SIGINT received at any time, also after the
				 * command exited (bound the delivery), else 0 */
};

void command_result_free(struct command_result *r);

/* Blocks the signals the supervisor handles, so that none is lost between
 * start-up and the event loop (call first thing in run mode).  Makes the
 * agent a child subreaper when it is not PID 1. */
int supervise_prepare(struct err *err);

/* Checks for SIGTERM/SIGINT that arrived before the command was started
 * (e.g. during the first heartbeat) or after supervise_run returned (during
 * the report).  Returns the signal or 0, and consumes it.  A stop signal
 * left pending when supervise_run starts is not lost: the command gets it
 * as soon as it runs, and the result says STOP_SIGNAL. */
int supervise_pending_stop(void);

/* Waits up to ms for SIGTERM or SIGINT (blocked since supervise_prepare)
 * and consumes it.  Returns the signal, or 0 when the time passed. */
int supervise_wait_stop(int64_t ms);

/* Runs argv to completion.  Returns 0 with result filled in (also when exec
 * failed: result->started is false), -1 with err when the agent itself could
 * not set things up (pipes, memfd, fork).
 *
 * After the command exits, its pipes are drained for at most 1 s more; then
 * every descendant still alive gets one SIGTERM, and SIGKILL 2 s later, so it
 * returns within about 3 s of the command's exit even when leftovers ignore
 * SIGTERM (about 1 s when they do not). */
int supervise_run(const struct supervise_config *cfg, struct command_result *result, struct err *err);

/* In a child before exec: marks every descriptor from `from` up
 * close-on-exec (close_range when try_close_range and the kernel has it,
 * else /proc/self/fd, else every number below the open files limit).
 * Async-signal-safe.  For tests: the fallbacks. */
void spawn_cloexec_from(int from, bool try_close_range);

#endif
