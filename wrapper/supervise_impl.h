/* What the parts of the supervisor share (not for use outside wrapper/):
 * supervise.c the event loop and its timers, signals.c the signal set-up
 * and forwarding, spawn.c starting the command (descriptors, environment,
 * exec), leftovers.c the sweep of what the command leaves behind. */
#ifndef SFN_SUPERVISE_IMPL_H
#define SFN_SUPERVISE_IMPL_H

#include "base/posix.h"
#include "wrapper/output.h"
#include "wrapper/supervise.h"

#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#define DRAIN_MS 1000
#define CLEANUP_KILL_MS 2000 /* for SIGKILL to take effect (a process stuck in the kernel) */
#define CLEANUP_POLL_MS 50
#define RELAY_CHUNK (256 * 1024)

/* signals.c: the agent's original signal mask and core limit, for the
 * command; whether orphans of the command come to us. */
extern sigset_t orig_mask;
extern struct rlimit orig_core;
extern bool core_saved;
extern bool orphans_are_ours;

enum phase { RUNNING, DRAIN, DONE };

struct stream {
	int fd;           /* read end, -1 at EOF */
	int out;          /* where to relay: 1 or 2 */
	bool out_dead;    /* our own stdout/stderr is gone: keep draining */
	struct tail *tail;
};

struct supervision {
	const struct supervise_config *cfg;
	struct command_result *res;
	pid_t pid;
	int sfd;
	struct stream streams[2];
	enum phase phase;
	int64_t start_ms;
	int64_t timeout_at;   /* -1: none */
	int64_t kill_at;      /* grace expiry after a stop; -1: none */
	int64_t tick_at;      /* next call of cfg->tick; -1: none */
	int64_t drain_until;
	int64_t cleanup_end;  /* DRAIN: when to give up on leftovers that survive SIGKILL */
	bool leftovers_gone;  /* DRAIN: no descendant of the command is left */
	bool killed;          /* SIGKILL sent to the group for a stop */
	bool drain_over;      /* DRAIN: drain_until passed, leftovers got SIGKILL */
	bool first_round_done;
	bool child_exited;
	sigset_t sent;        /* signals the agent sent or forwarded to the command */
	pid_t *termed;        /* leftovers already sent SIGTERM during clean-up */
	size_t n_termed, cap_termed;
};

static inline const char *signame(int sig)
{
	const char *n = signal_name(sig);
	return n ? n : "a signal";
}

static inline int64_t now_ms(const struct supervision *sv)
{
	return sv->cfg->sys->mono_ms();
}

/* signals.c */
void handled_set(sigset_t *set);
void send_signal(struct supervision *sv, int sig, bool group);
void begin_stop(struct supervision *sv, enum stop_reason why, int sig);
void handle_signals(struct supervision *sv);

/* leftovers.c */
void start_drain(struct supervision *sv);
bool cleanup_round(struct supervision *sv, bool kill_now);

/* spawn.c */
char **build_env(const char *output, const char *mark);
void free_env(char **env);
_Noreturn void child_exec(const struct supervise_config *cfg, char **env, int out_w, int err_w, int exec_w,
			  const struct outfile *give, size_t n_give, bool take_tty);
char *missing_interpreter(const char *name);
int pipe_above_stdio(int fds[2], struct err *err);

#endif
