/* The supervisor: one poll() loop over the command's stdout and stderr pipes
 * and a signalfd, with every timer (heartbeat tick, --timeout, grace, the
 * post-exit drain, the clean-up of leftovers) folded into poll's timeout.
 * Signals are blocked from supervise_prepare() on and read from the signalfd,
 * so nothing runs in a signal handler and no signal is lost in between.
 *
 * The life of a run, in phases:
 *   RUNNING  the command is alive: relay, forward signals, tick, timeout, grace.
 *   DRAIN    it exited: SIGTERM every descendant still alive, read the pipes
 *            to EOF; after DRAIN_MS, SIGKILL what is left and stop waiting for
 *            the pipes (a background grandchild may hold them open forever).
 *            Done when the pipes are closed, or DRAIN_MS passed, and no
 *            descendant is left: so the report follows the command's exit by
 *            at most DRAIN_MS, and at once when the leftovers obey SIGTERM. */
#include "wrapper/supervise.h"

#include "base/log.h"
#include "wrapper/output.h"
#include "wrapper/result.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DRAIN_MS 1000
#define CLEANUP_KILL_MS 2000 /* for SIGKILL to take effect (a process stuck in the kernel) */
#define CLEANUP_POLL_MS 50
#define RELAY_CHUNK (256 * 1024)

extern char **environ;

static sigset_t orig_mask;
static struct rlimit orig_core;
static bool core_saved;
static bool prepared;
static bool orphans_are_ours; /* PID 1 or a child subreaper */

/* The signals the loop reads from its signalfd: every one that can be
 * caught (like tini), so that no signal kills or stops the agent but
 * SIGKILL and SIGSTOP: SIGALRM, SIGXCPU, real-time signals and the rest go
 * to the command, SIGTSTP too; SIGTTIN and SIGTTOU (the terminal's answer
 * to the agent itself) are dropped.  Faults stay unblocked: a crash of the
 * agent must still end it, not be read as a message. */
static void handled_set(sigset_t *set)
{
	sigfillset(set);
	static const int faults[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS };
	for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
		sigdelset(set, faults[i]);
	sigdelset(set, SIGKILL);
	sigdelset(set, SIGSTOP);
}

/* Started with fd 0, 1 or 2 closed (`>&-`), the next descriptor we open
 * would land there, and the relay would write the command's output into a
 * signalfd or a memfd.  /dev/null keeps the numbers taken. */
static void fill_stdio(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* The lowest free number: fd itself, as the lower ones are open. */
		int n = open("/dev/null", O_RDWR);
		if (n < 0)
			return;
		if (n != fd) {
			if (dup2(n, fd) < 0)
				log_debug("cannot fill descriptor %d: %s", fd, strerror(errno));
			close(n);
		}
	}
}

int supervise_prepare(struct err *err)
{
	if (prepared)
		return 0;
	fill_stdio();
	/* Among them SIGPIPE: a write to a closed stdout then fails with EPIPE,
	 * which the relay handles, instead of killing the agent before it can
	 * report; and SIGTTOU, so that we can take the terminal back from the
	 * command's group (tcsetpgrp from a background group raises it).  The
	 * command gets the original mask back. */
	sigset_t set;
	handled_set(&set);
	if (sigprocmask(SIG_BLOCK, &set, &orig_mask) != 0)
		return err_set(err, "cannot block signals (%s): this is a bug, please report it", strerror(errno));
	prepared = true;
	/* The agent's memory will hold the task token and credentials: no
	 * core dump of it (the command keeps the limit it would have had), and
	 * not dumpable, so that no process without CAP_SYS_PTRACE, not even
	 * one with our uid, reads /proc/<agent>/mem or attaches to us.  The
	 * command reaches SFN_OUTPUT through its own /proc entry instead. */
	if (getrlimit(RLIMIT_CORE, &orig_core) == 0) {
		core_saved = true;
		struct rlimit zero = { 0, orig_core.rlim_max };
		if (setrlimit(RLIMIT_CORE, &zero) != 0)
			log_warn("cannot turn off core dumps of the agent: %s", strerror(errno));
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		log_warn("cannot make the agent non-dumpable: %s", strerror(errno));
	/* As PID 1 orphans come to us anyway; otherwise ask for them, so that the
	 * command's daemonised children can still be reaped and cleaned up. */
	orphans_are_ours = true;
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
		orphans_are_ours = false;
		log_warn("cannot become a child subreaper (%s): processes the command leaves behind may "
			 "outlive it", strerror(errno));
	}
	return 0;
}

int supervise_pending_stop(void)
{
	sigset_t pending, stops;
	if (sigpending(&pending) != 0)
		return 0;
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	int sig = 0;
	if (sigismember(&pending, SIGTERM))
		sig = SIGTERM;
	else if (sigismember(&pending, SIGINT))
		sig = SIGINT;
	if (sig) {
		/* Consume it: the caller acts on it now. */
		struct timespec zero = { 0, 0 };
		sigset_t one;
		sigemptyset(&one);
		sigaddset(&one, sig);
		if (sigtimedwait(&one, NULL, &zero) < 0)
			return 0;
	}
	return sig;
}

int supervise_wait_stop(int64_t ms)
{
	sigset_t stops;
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	for (;;) {
		int sig = ms > 0 ? sigtimedwait(&stops, NULL, &ts) : 0;
		if (sig >= 0)
			return sig;
		if (errno != EINTR)
			return 0;
		/* EINTR: a handled signal of a test harness; the rest is close
		 * enough to wait again in full, as nanosleep's callers do. */
	}
}

void command_result_free(struct command_result *r)
{
	buf_free(&r->stdout_tail.b);
	buf_free(&r->stderr_tail.b);
	buf_free(&r->output_file);
	buf_free(&r->report_mark);
	free(r->command);
	r->command = NULL;
	free(r->missing_interpreter);
	r->missing_interpreter = NULL;
}

enum phase { RUNNING, DRAIN, DONE };

struct stream {
	int fd;           /* read end, -1 at EOF */
	int out;          /* where to relay: 1 or 2 */
	bool out_dead;    /* our own stdout/stderr is gone: keep draining */
	struct tail *tail;
};

struct sup {
	const struct supervise_config *cfg;
	struct command_result *res;
	pid_t pid;
	int sfd;
	struct stream streams[2];
	enum phase phase;
	int64_t start_ms;
	int64_t timeout_at;   /* -1: none */
	int64_t kill_at;      /* grace expiry after a stop; -1: none */
	int64_t drain_until;
	int64_t cleanup_end;  /* DRAIN: when to give up on leftovers that survive SIGKILL */
	bool leftovers_gone;  /* DRAIN: no descendant of the command is left */
	bool killed;          /* SIGKILL sent to the group for a stop */
	bool cleanup_killed;
	bool first_round_done;
	bool child_exited;
	sigset_t sent;        /* signals the agent sent or forwarded to the command */
	pid_t *termed;        /* leftovers already sent SIGTERM during clean-up */
	size_t n_termed, cap_termed;
};

static const char *signame(int sig)
{
	const char *n = signal_name(sig);
	return n ? n : "a signal";
}

static int64_t now_ms(const struct sup *s)
{
	return s->cfg->sys->mono_ms();
}

/* Writes all of p, or gives up on this stream for good: a closed or broken
 * stdout must not stop us from draining the command (it would block on a
 * full pipe) nor from reporting. */
static void relay(struct stream *st, const char *p, size_t n)
{
	while (n > 0 && !st->out_dead) {
		ssize_t w = write(st->out, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			/* Someone made our stdout non-blocking: wait for room, but not
			 * for ever (the loop also has timers and signals to serve). */
			struct pollfd pfd = { st->out, POLLOUT, 0 };
			int r = poll(&pfd, 1, 10000);
			if (r > 0 && !(pfd.revents & (POLLERR | POLLNVAL)))
				continue;
			if (r < 0 && errno == EINTR)
				continue;
		}
		st->out_dead = true;
		if (st->out == STDOUT_FILENO)
			log_warn("cannot write to standard output (%s): the command's output is no longer relayed",
				 w < 0 ? strerror(errno) : "write returned 0");
	}
}

static void read_stream(struct sup *s, struct stream *st)
{
	static char spare[RELAY_CHUNK]; /* only when no tail is kept; one loop, no threads */
	for (int rounds = 0; rounds < 16 && st->fd >= 0; rounds++) {
		/* Read straight into the tail and relay from there: no copy
		 * beyond what the kernel does. */
		bool keep = st->tail->max > 0;
		size_t room = keep && st->tail->max < RELAY_CHUNK ? st->tail->max : RELAY_CHUNK;
		char *buf = keep ? tail_reserve(st->tail, room) : spare;
		ssize_t n = read(st->fd, buf, room);
		if (n > 0) {
			if (keep)
				tail_commit(st->tail, (size_t)n);
			relay(st, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* EOF, or an error that will not go away. */
		if (close(st->fd) != 0 && errno != EINTR)
			log_debug("closing the command's pipe: %s", strerror(errno));
		st->fd = -1;
	}
	(void)s;
}

static void record_exit(struct sup *s, int status)
{
	struct command_result *r = s->res;
	s->child_exited = true;
	r->duration_s = (double)(now_ms(s) - s->start_ms) / 1000.0;
	if (WIFEXITED(status)) {
		r->exit_code = WEXITSTATUS(status);
		r->term_signal = 0;
	} else {
		r->exit_code = -1;
		r->term_signal = WTERMSIG(status);
		r->killed_by_agent = r->stop != STOP_NONE || sigismember(&s->sent, r->term_signal) == 1;
	}
}

/* Reaps every child that has exited: as PID 1 or a subreaper, orphans of the
 * command are ours to collect. */
static void reap(struct sup *s)
{
	for (;;) {
		int status;
		pid_t p = waitpid(-1, &status, WNOHANG);
		if (p == 0)
			return;
		if (p < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD)
				log_warn("waitpid failed: %s", strerror(errno));
			return;
		}
		if (p == s->pid && !s->child_exited)
			record_exit(s, status);
	}
}

static void send_signal(struct sup *s, int sig, bool group)
{
	pid_t target = group ? -s->pid : s->pid;
	/* The command itself is gone and reaped: its pid may belong to someone
	 * else now.  Its group id stays reserved while any member lives. */
	if (!group && s->child_exited)
		return;
	if (kill(target, sig) != 0) {
		if (errno != ESRCH)
			log_warn("cannot send %s to the command (%s)", signame(sig), strerror(errno));
		return;
	}
	sigaddset(&s->sent, sig);
}

static void begin_stop(struct sup *s, enum stop_reason why, int sig)
{
	if (s->res->stop != STOP_NONE)
		return;
	s->res->stop = why;
	s->kill_at = now_ms(s) + (s->cfg->grace_ms > 0 ? s->cfg->grace_ms : 0);
	if (why == STOP_SIGNAL) {
		s->res->stop_signal = sig;
		send_signal(s, sig, s->cfg->signal_target == TARGET_GROUP);
	} else {
		send_signal(s, SIGTERM, true);
	}
}

static void handle_signals(struct sup *s)
{
	struct signalfd_siginfo si[16];
	for (;;) {
		ssize_t n = read(s->sfd, si, sizeof si);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_warn("reading signals failed: %s", strerror(errno));
			return;
		}
		size_t count = (size_t)n / sizeof si[0];
		for (size_t i = 0; i < count; i++) {
			int sig = (int)si[i].ssi_signo;
			if (sig == SIGCHLD)
				continue; /* reap() runs after every wake-up */
			/* The agent's own: the terminal stopping a background agent,
			 * and what the kernel raises for the agent's own writes
			 * (SIGPIPE; SIGXFSZ, which then names our pid as sender). */
			if (sig == SIGTTIN || sig == SIGTTOU || sig == SIGPIPE ||
			    (sig == SIGXFSZ && (pid_t)si[i].ssi_pid == getpid()))
				continue;
			bool group = s->cfg->signal_target == TARGET_GROUP;
			if (sig == SIGTERM || sig == SIGINT) {
				if (!s->res->agent_signal)
					s->res->agent_signal = sig;
				if (s->phase == RUNNING && s->res->stop == STOP_NONE) {
					log_info("received %s: forwarding it to the command, SIGKILL in %lld s if it is "
						 "still running", signame(sig), (long long)(s->cfg->grace_ms / 1000));
					begin_stop(s, STOP_SIGNAL, sig);
					continue;
				}
			}
			log_debug("forwarding %s to the command", signame(sig));
			send_signal(s, sig, group);
		}
		if (count < sizeof si / sizeof si[0])
			return;
	}
}

struct proc {
	pid_t pid, ppid;
};

/* Live descendants of the agent (not zombies), from /proc.  -1 when /proc
 * cannot be read. */
static long descendants(struct proc **out)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	struct node {
		pid_t pid, ppid;
		bool zombie, mine;
	} *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		/* "pid (comm) S ppid ...": comm may hold anything, even ')'. */
		char *rp = strrchr(buf, ')');
		char state;
		long ppid;
		if (!rp || sscanf(rp + 1, " %c %ld", &state, &ppid) != 2)
			continue;
		v = array_reserve(v, n, &cap, sizeof *v);
		v[n++] = (struct node){ (pid_t)pid, (pid_t)ppid, state == 'Z' || state == 'X', false };
	}
	closedir(d);
	pid_t self = getpid();
	bool changed = true;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < n; i++) {
			if (v[i].mine)
				continue;
			bool parent_mine = v[i].ppid == self;
			for (size_t j = 0; j < n && !parent_mine; j++)
				parent_mine = v[j].mine && v[j].pid == v[i].ppid;
			if (parent_mine)
				v[i].mine = changed = true;
		}
	}
	long count = 0;
	struct proc *procs = xcalloc(n, sizeof *procs);
	for (size_t i = 0; i < n; i++)
		if (v[i].mine && !v[i].zombie && v[i].pid != self)
			procs[count++] = (struct proc){ v[i].pid, v[i].ppid };
	free(v);
	*out = procs;
	return count;
}

/* One round of clean-up.  Returns true when nothing is left.
 *
 * The first round sends SIGTERM to every descendant.  Later ones only to
 * processes that have just become our children (their parent died), so
 * that what a leftover starts while it cleans up (a shell's trap) is left
 * to it until the SIGKILL round. */
static bool cleanup_round(struct sup *s, bool kill_now)
{
	int sig = kill_now ? SIGKILL : SIGTERM;
	struct proc *procs = NULL;
	long n = descendants(&procs);
	if (n < 0) {
		/* No /proc: the group, and whatever we still have as children. */
		if (kill(-s->pid, sig) != 0 && errno != ESRCH)
			log_warn("cannot signal the command's process group: %s", strerror(errno));
		free(procs);
		return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
	}
	pid_t self = getpid();
	for (long i = 0; i < n; i++) {
		pid_t pid = procs[i].pid;
		bool seen = false;
		for (size_t j = 0; j < s->n_termed && !seen; j++)
			seen = s->termed[j] == pid;
		if (!kill_now && (seen || (s->first_round_done && procs[i].ppid != self)))
			continue;
		if (!seen) {
			s->termed = array_reserve(s->termed, s->n_termed, &s->cap_termed, sizeof *s->termed);
			s->termed[s->n_termed++] = pid;
		}
		/* Once per process: the SIGKILL round repeats every CLEANUP_POLL_MS. */
		if (kill(pid, sig) != 0 && errno != ESRCH && !seen)
			log_warn("cannot send %s to leftover process %ld: %s", signame(sig), (long)pid,
				 strerror(errno));
	}
	s->first_round_done = true;
	free(procs);
	return n == 0;
}

/* The command has exited: its leftovers get SIGTERM now and SIGKILL at the
 * end of the drain. */
static void start_drain(struct sup *s)
{
	int64_t t = now_ms(s);
	s->phase = DRAIN;
	s->drain_until = t + DRAIN_MS;
	s->cleanup_end = t + DRAIN_MS + CLEANUP_KILL_MS;
	/* Without the subreaper, group members whose parents died went to
	 * init, out of our sight in /proc: reach them through the group.  With
	 * it, every one of them is a descendant and gets exactly one SIGTERM
	 * below (a second one could cut short a shell's own clean-up trap). */
	if (!orphans_are_ours && kill(-s->pid, SIGTERM) != 0 && errno != ESRCH)
		log_warn("cannot signal the command's process group: %s", strerror(errno));
	s->leftovers_gone = cleanup_round(s, false);
	if (!s->leftovers_gone)
		log_info("the command left %zu process(es) running: sent SIGTERM, SIGKILL in %d s",
			 s->n_termed, DRAIN_MS / 1000);
}

static int64_t min_deadline(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

static void run_timers(struct sup *s)
{
	int64_t t = now_ms(s);
	const struct supervise_config *cfg = s->cfg;
	switch (s->phase) {
	case RUNNING:
		if (s->timeout_at >= 0 && t >= s->timeout_at && s->res->stop == STOP_NONE) {
			log_info("the command ran longer than --timeout (%lld s): terminating it",
				 (long long)(cfg->timeout_ms / 1000));
			begin_stop(s, STOP_TIMEOUT, SIGTERM);
		}
		if (s->kill_at >= 0 && t >= s->kill_at && !s->killed) {
			s->killed = true;
			log_info("the command did not stop within the grace period: sending SIGKILL");
			send_signal(s, SIGKILL, true);
		}
		break;
	case DRAIN: {
		bool late = t >= s->drain_until;
		if (late && !s->leftovers_gone && !s->cleanup_killed) {
			log_info("leftover processes of the command are still running: sending SIGKILL");
			s->cleanup_killed = true;
			if (kill(-s->pid, SIGKILL) != 0 && errno != ESRCH)
				log_warn("cannot signal the command's process group: %s", strerror(errno));
		}
		if (!s->leftovers_gone)
			s->leftovers_gone = cleanup_round(s, late);
		bool pipes_done = late || (s->streams[0].fd < 0 && s->streams[1].fd < 0);
		if (pipes_done && s->leftovers_gone) {
			s->phase = DONE;
		} else if (t >= s->cleanup_end) {
			log_warn("leftover processes of the command did not die after SIGKILL: giving up on them");
			s->phase = DONE;
		}
		break;
	}
	case DONE:
		break;
	}
}

/* The environment for the command: ours, with SFN_OUTPUT and
 * SFN_AGENT_REPORT_MARK set.  Built before fork, so the child only calls
 * async-signal-safe functions; each of the two has room for the child to
 * write /proc/<its pid>/fd/N over the value (outfile_proc_path). */
#define PROC_PATH_ROOM 48
static char **build_env(const char *output, const char *mark)
{
	size_t n = 0;
	for (char **e = environ; e && *e; e++)
		n++;
	char **env = xcalloc(n + 3, sizeof *env);
	size_t k = 0;
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "SFN_OUTPUT=", 11) == 0 || strncmp(*e, "SFN_AGENT_REPORT_MARK=", 22) == 0)
			continue;
		env[k++] = *e;
	}
	struct buf b = BUF_INIT;
	buf_printf(&b, "SFN_OUTPUT=%s%*s", output, PROC_PATH_ROOM, "");
	b.data[strlen("SFN_OUTPUT=") + strlen(output)] = '\0';
	env[k++] = buf_steal(&b);
	buf_printf(&b, "SFN_AGENT_REPORT_MARK=%s%*s", mark, PROC_PATH_ROOM, "");
	b.data[strlen("SFN_AGENT_REPORT_MARK=") + strlen(mark)] = '\0';
	env[k++] = buf_steal(&b);
	env[k] = NULL;
	return env;
}

static void free_env(char **env)
{
	size_t n = 0;
	while (env[n])
		n++;
	/* The last two are ours. */
	free(env[n - 1]);
	free(env[n - 2]);
	free(env);
}

/* In the child, between fork and exec: only async-signal-safe calls. */

static void restore_core_limit(void)
{
	if (core_saved)
		setrlimit(RLIMIT_CORE, &orig_core);
}

/* The C library refuses its reserved real-time signals (32-34), yet one the
 * agent's parent ignored is inherited and would survive exec: a command that
 * finds SIGRTMIN-2 ignored is not running "as if the agent were not there".
 * The kernel takes the reset directly; its sigaction layout for SIG_DFL
 * with no flags is the same on every Linux architecture we build for. */
static void reset_reserved_signal(int sig)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} ksa = { 0 };
	ksa.handler = (void *)SIG_DFL;
	long r = syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof ksa.mask);
	(void)r; /* nothing to do about a refusal in the child before exec */
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Marks every descriptor from `from` up close-on-exec by walking the
 * directory /proc/self/fd with getdents64 (open and getdents are
 * async-signal-safe; opendir is not).  -1 when /proc cannot be read. */
static int cloexec_by_proc(int from)
{
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	char buf[4096] __attribute__((aligned(8)));
	for (;;) {
		long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			/* struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name. */
			unsigned short reclen;
			memcpy(&reclen, buf + off + 16, sizeof reclen);
			const char *name = buf + off + 19;
			int fd = 0;
			bool digits = *name != '\0';
			for (const char *c = name; *c && digits; c++) {
				digits = *c >= '0' && *c <= '9';
				fd = fd * 10 + (*c - '0');
			}
			if (digits && fd >= from && fd != dfd)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
			off += reclen;
		}
	}
	close(dfd);
	return 0;
}

void spawn_cloexec_from(int from, bool try_close_range)
{
	/* close_range(2) marks them all in one call (Linux 5.11); older
	 * kernels and C libraries without it walk /proc, and without /proc
	 * every number up to the open files limit. */
#ifdef SYS_close_range
	if (try_close_range && syscall(SYS_close_range, (unsigned)from, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
#else
	(void)try_close_range;
#endif
	if (cloexec_by_proc(from) == 0)
		return;
	struct rlimit rl;
	long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : 65536;
	if (max > 1 << 20)
		max = 1 << 20;
	for (long fd = from; fd < max; fd++)
		fcntl((int)fd, F_SETFD, FD_CLOEXEC);
}

static _Noreturn void child_exec(const struct supervise_config *cfg, char **env, int out_w, int err_w, int exec_w,
				 const struct outfile *give, size_t n_give, bool take_tty)
{
	if (setpgid(0, 0) != 0) {
		/* Not fatal: signals then reach the command alone, through its pid. */
	}
	/* An interactive run (docker run -it): the command's new group must own
	 * the terminal, or its first read stops it with SIGTTIN.  The child does
	 * it, before exec, because only then is the group sure to exist when the
	 * command first touches the terminal; SIGTTOU is still blocked here. */
	if (take_tty && tcsetpgrp(STDIN_FILENO, getpid()) != 0) {
		/* Not fatal: the command can still run without the terminal. */
	}
	/* Default dispositions and the mask the agent was started with, as if
	 * the agent were not there (tini does the same). */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sigaction(sig, &dfl, NULL) != 0 && errno == EINVAL)
			reset_reserved_signal(sig);
	}
	sigprocmask(SIG_SETMASK, &orig_mask, NULL);
	if (dup2(out_w, STDOUT_FILENO) < 0 || dup2(err_w, STDERR_FILENO) < 0) {
		int e = errno;
		ssize_t w = write(exec_w, &e, sizeof e);
		(void)w;
		_exit(126);
	}
	/* The command gets 0, 1, 2 and the files meant for it, nothing else of
	 * ours: not libcurl's wake-up pair, not the connection to Step
	 * Functions (a daemon it leaves behind would hold it; a read from it
	 * would take the agent's next answer).  Close-on-exec rather than
	 * closed, so that exec_w still reports a failed exec. */
	spawn_cloexec_from(3, true);
	for (size_t i = 0; i < n_give; i++)
		fcntl(give[i].fd, F_SETFD, 0);
	/* SFN_OUTPUT and the report mark through our own descriptor table,
	 * now that the pid is known: the last two entries of env, in order. */
	size_t n_env = 0;
	while (env[n_env])
		n_env++;
	for (size_t i = 0; i < n_give && i < 2; i++)
		if (give[i].by_pid)
			outfile_proc_path(strchr(env[n_env - 2 + i], '=') + 1, (long)getpid(), give[i].fd);
	/* The agent's core limit is 0 (its memory holds secrets); the command
	 * gets the one the agent was started with. */
	restore_core_limit();
	execvpe(cfg->argv[0], cfg->argv, env);
	int e = errno;
	ssize_t w = write(exec_w, &e, sizeof e);
	(void)w;
	_exit(e == ENOENT ? 127 : 126);
}

/* The file execvpe would have run for name (PATH searched as it does), or
 * NULL.  Called only after exec failed, so no need to be exact about
 * anything but existence. */
static char *find_command(const char *name)
{
	struct stat st;
	if (strchr(name, '/'))
		return stat(name, &st) == 0 && S_ISREG(st.st_mode) ? xstrdup(name) : NULL;
	const char *path = getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin";
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		struct buf b = BUF_INIT;
		if (end == p)
			buf_printf(&b, "./%s", name); /* an empty entry is the working directory */
		else
			buf_printf(&b, "%.*s/%s", (int)(end - p), p, name);
		if (stat(buf_cstr(&b), &st) == 0 && S_ISREG(st.st_mode))
			return buf_steal(&b);
		buf_free(&b);
		if (!*end)
			return NULL;
		p = end;
	}
}

/* exec answered ENOENT for a file that exists: what it runs is missing.
 * The "#!" line's interpreter (up to a blank or the newline, as the kernel
 * reads it: a Windows \r stays part of the name), else "" (a binary whose
 * dynamic loader is missing).  NULL when the file itself does not exist. */
static char *missing_interpreter(const char *name)
{
	char *file = find_command(name);
	if (!file)
		return NULL;
	char head[256] = "";
	ssize_t n = -1;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	free(file);
	if (fd >= 0) {
		n = read(fd, head, sizeof head - 1);
		close(fd);
	}
	if (n < 2 || head[0] != '#' || head[1] != '!')
		return xstrdup("");
	head[n] = '\0';
	char *p = head + 2;
	while (*p == ' ' || *p == '\t')
		p++;
	return xstrndup(p, strcspn(p, " \t\n"));
}

static int pipe_above_stdio(int fds[2], struct err *err)
{
	if (pipe2(fds, O_CLOEXEC) != 0)
		return err_set(err, "cannot create a pipe for the command (%s): raise the open files limit",
			       strerror(errno));
	/* If the agent was started with fd 0, 1 or 2 closed, a pipe can land
	 * there, and dup2 in the child would then clobber it. */
	for (int i = 0; i < 2; i++) {
		if (fds[i] > 2)
			continue;
		int nfd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (nfd < 0) {
			close(fds[0]);
			close(fds[1]);
			return err_set(err, "cannot move a pipe above the standard descriptors (%s)",
				       strerror(errno));
		}
		close(fds[i]);
		fds[i] = nfd;
	}
	/* A pipe larger than the default 64 KiB lets one wake-up of the loop
	 * relay more: a chatty command costs fewer system calls per byte.  Best
	 * effort: the kernel may cap it (fs.pipe-max-size). */
	if (fcntl(fds[0], F_SETPIPE_SZ, RELAY_CHUNK) < 0)
		log_debug("keeping the default pipe size: %s", strerror(errno));
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int supervise_run(const struct supervise_config *cfg, struct command_result *res, struct err *err)
{
	int rc = -1;
	int out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 }, exec_p[2] = { -1, -1 };
	struct outfile of = { -1, "", NULL, false }, mark = { -1, "", NULL, false };
	char **env = NULL;
	bool take_tty = false;
	struct sup s;
	memset(&s, 0, sizeof s);
	s.cfg = cfg;
	s.res = res;
	s.sfd = -1;
	s.pid = -1;
	s.streams[0].fd = s.streams[1].fd = -1;
	s.timeout_at = s.kill_at = -1;
	sigemptyset(&s.sent);

	memset(res, 0, sizeof *res);
	res->stdout_tail.max = cfg->stdout_keep;
	res->stderr_tail.max = cfg->stderr_keep;
	res->exit_code = -1;
	res->timeout_ms = cfg->timeout_ms;
	res->command = xstrdup(cfg->argv && cfg->argv[0] ? cfg->argv[0] : "");
	if (!cfg->argv || !cfg->argv[0])
		return err_set(err, "no command given: put the command after the options, e.g. sfn-agent -- /app/job.sh");

	if (supervise_prepare(err) != 0)
		return -1;
	sigset_t set;
	handled_set(&set);
	s.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s.sfd < 0) {
		err_set(err, "cannot create a signalfd (%s): this kernel is too old", strerror(errno));
		goto out;
	}
	if (outfile_open(&of, "sfn-output", err) != 0 || outfile_open(&mark, "sfn-report-mark", err) != 0)
		goto out;
	if (pipe_above_stdio(out_p, err) != 0 || pipe_above_stdio(err_p, err) != 0 ||
	    pipe_above_stdio(exec_p, err) != 0)
		goto out;
	env = build_env(of.path, mark.path);

	/* Hand the terminal over only when it is ours to hand. */
	take_tty = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
	s.start_ms = now_ms(&s);
	pid_t pid = fork();
	if (pid < 0) {
		err_set(err, "cannot start the command: fork failed (%s)", strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(cfg, env, out_p[1], err_p[1], exec_p[1], (struct outfile[]){ of, mark }, 2, take_tty);
	s.pid = pid;
	/* Also here: whichever of parent and child runs first, the group exists
	 * before we signal it.  EACCES means the child already exec'd (and did
	 * it itself). */
	if (setpgid(pid, pid) != 0 && errno != EACCES && errno != ESRCH)
		log_debug("setpgid for the command failed: %s", strerror(errno));
	close_fd(&out_p[1]);
	close_fd(&err_p[1]);
	close_fd(&exec_p[1]);

	/* EOF here means exec succeeded (the pipe is close-on-exec). */
	int exec_errno = 0;
	ssize_t n;
	do
		n = read(exec_p[0], &exec_errno, sizeof exec_errno);
	while (n < 0 && errno == EINTR);
	close_fd(&exec_p[0]);
	if (n == (ssize_t)sizeof exec_errno) {
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		res->started = false;
		res->exec_errno = exec_errno;
		if (exec_errno == ENOENT)
			res->missing_interpreter = missing_interpreter(cfg->argv[0]);
		res->exit_code = exec_errno == ENOENT && !res->missing_interpreter ? 127 : 126;
		res->duration_s = (double)(now_ms(&s) - s.start_ms) / 1000.0;
		rc = 0;
		goto out;
	}
	res->started = true;

	s.streams[0] = (struct stream){ out_p[0], STDOUT_FILENO, false, &res->stdout_tail };
	s.streams[1] = (struct stream){ err_p[0], STDERR_FILENO, false, &res->stderr_tail };
	out_p[0] = err_p[0] = -1;
	for (int i = 0; i < 2; i++)
		if (fcntl(s.streams[i].fd, F_SETFL, O_NONBLOCK) != 0)
			log_debug("cannot make the command's pipe non-blocking: %s", strerror(errno));
	if (cfg->timeout_ms > 0)
		s.timeout_at = s.start_ms + cfg->timeout_ms;
	int64_t tick_at = cfg->tick.fn ? cfg->tick.next_ms : -1;
	s.phase = RUNNING;

	while (s.phase != DONE) {
		int64_t t = now_ms(&s);
		int64_t next = -1;
		switch (s.phase) {
		case RUNNING:
			next = min_deadline(tick_at, s.res->stop == STOP_NONE ? s.timeout_at : -1);
			next = min_deadline(next, s.killed ? -1 : s.kill_at);
			break;
		case DRAIN:
			next = s.leftovers_gone ? s.drain_until : min_deadline(s.drain_until, t + CLEANUP_POLL_MS);
			if (t >= s.drain_until)
				next = t + CLEANUP_POLL_MS;
			break;
		case DONE:
			break;
		}
		int timeout = -1;
		if (next >= 0)
			timeout = next <= t ? 0 : (next - t > 60000 ? 60000 : (int)(next - t));

		struct pollfd pfd[3];
		nfds_t nfd = 0;
		pfd[nfd++] = (struct pollfd){ s.sfd, POLLIN, 0 };
		int idx[2] = { -1, -1 };
		for (int i = 0; i < 2; i++) {
			if (s.streams[i].fd >= 0) {
				idx[i] = (int)nfd;
				pfd[nfd++] = (struct pollfd){ s.streams[i].fd, POLLIN, 0 };
			}
		}
		int r = poll(pfd, nfd, timeout);
		if (r < 0 && errno != EINTR) {
			err_set(err, "poll failed (%s): this is a bug, please report it", strerror(errno));
			/* The command is still out there: take it down before leaving. */
			send_signal(&s, SIGKILL, true);
			goto out;
		}
		if (r > 0) {
			for (int i = 0; i < 2; i++)
				if (idx[i] >= 0 && pfd[idx[i]].revents)
					read_stream(&s, &s.streams[i]);
			if (pfd[0].revents)
				handle_signals(&s);
		}
		reap(&s);
		if (s.phase == RUNNING && s.child_exited)
			start_drain(&s);
		if (s.phase == RUNNING && tick_at >= 0 && now_ms(&s) >= tick_at) {
			bool stop = false;
			tick_at = cfg->tick.fn(cfg->tick.ctx, now_ms(&s), &stop);
			if (stop && s.res->stop == STOP_NONE) {
				log_info("stopping the command: SIGTERM now, SIGKILL in %lld s",
					 (long long)(cfg->grace_ms / 1000));
				begin_stop(&s, STOP_TOKEN_LOST, SIGTERM);
			}
		}
		run_timers(&s);
	}
	/* The last leftovers may have turned into zombies just now. */
	reap(&s);
	rc = 0;

out:
	if (take_tty && s.pid > 0 && tcsetpgrp(STDIN_FILENO, getpgrp()) != 0)
		log_debug("cannot take the terminal back: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		close_fd(&s.streams[i].fd);
	if (rc == 0 && res->started) {
		struct err e;
		if (outfile_read(&of, OUTPUT_READ_MAX, &res->output_file, &e) != 0)
			log_warn("%s", e.msg);
		if (outfile_read(&mark, 4096, &res->report_mark, &e) != 0)
			log_warn("%s", e.msg);
	}
	if (rc != 0 && s.pid > 0 && !s.child_exited && res->started) {
		int status;
		while (waitpid(s.pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	outfile_close(&of);
	outfile_close(&mark);
	close_fd(&out_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[0]);
	close_fd(&err_p[1]);
	close_fd(&exec_p[0]);
	close_fd(&exec_p[1]);
	close_fd(&s.sfd);
	if (env)
		free_env(env);
	free(s.termed);
	return rc;
}
