/* The supervisor's signals: blocked from supervise_prepare() on and read
 * from a signalfd by the event loop; forwarded to the command, or a stop. */
#include "wrapper/supervise_impl.h"

#include "base/log.h"

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

sigset_t orig_mask;
struct rlimit orig_core;
bool core_saved;
static bool prepared;
bool orphans_are_ours; /* PID 1 or a child subreaper */

/* The signals the loop reads from its signalfd: every one that can be
 * caught (like tini), so that no signal kills or stops the agent but
 * SIGKILL and SIGSTOP: SIGALRM, SIGXCPU, real-time signals and the rest go
 * to the command, SIGTSTP too; SIGTTIN and SIGTTOU (the terminal's answer
 * to the agent itself) are dropped.  Faults stay unblocked: a crash of the
 * agent must still end it, not be read as a message. */
void handled_set(sigset_t *set)
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

void send_signal(struct supervision *sv, int sig, bool group)
{
	pid_t target = group ? -sv->pid : sv->pid;
	/* The command itself is gone and reaped: its pid may belong to someone
	 * else now.  Its group id stays reserved while any member lives. */
	if (!group && sv->child_exited)
		return;
	if (kill(target, sig) != 0) {
		if (errno != ESRCH)
			log_warn("cannot send %s to the command (%s)", signame(sig), strerror(errno));
		return;
	}
	sigaddset(&sv->sent, sig);
}

void begin_stop(struct supervision *sv, enum stop_reason why, int sig)
{
	if (sv->res->stop != STOP_NONE)
		return;
	sv->res->stop = why;
	sv->kill_at = now_ms(sv) + (sv->cfg->grace_ms > 0 ? sv->cfg->grace_ms : 0);
	if (why == STOP_SIGNAL) {
		sv->res->stop_signal = sig;
		send_signal(sv, sig, sv->cfg->signal_target == TARGET_GROUP);
	} else {
		send_signal(sv, SIGTERM, true);
	}
}

void handle_signals(struct supervision *sv)
{
	struct signalfd_siginfo si[16];
	for (;;) {
		ssize_t n = read(sv->sfd, si, sizeof si);
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
			bool group = sv->cfg->signal_target == TARGET_GROUP;
			if (sig == SIGTERM || sig == SIGINT) {
				if (!sv->res->agent_signal)
					sv->res->agent_signal = sig;
				if (sv->phase == RUNNING && sv->res->stop == STOP_NONE) {
					log_info("received %s: forwarding it to the command, SIGKILL in %lld s if it is "
						 "still running", signame(sig), (long long)(sv->cfg->grace_ms / 1000));
					begin_stop(sv, STOP_SIGNAL, sig);
					continue;
				}
			}
			log_debug("forwarding %s to the command", signame(sig));
			send_signal(sv, sig, group);
		}
		if (count < sizeof si / sizeof si[0])
			return;
	}
}
