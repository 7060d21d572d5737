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
#include "wrapper/supervise_impl.h"

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

/* Writes all of p, or gives up on this stream for good: a closed or broken
 * stdout must not stop us from draining the command (it would block on a
 * full pipe) nor from reporting. */
static void relay(struct stream *stream, const char *p, size_t n)
{
	while (n > 0 && !stream->out_dead) {
		ssize_t w = write(stream->out, p, n);
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
			struct pollfd pfd = { stream->out, POLLOUT, 0 };
			int r = poll(&pfd, 1, 10000);
			if (r > 0 && !(pfd.revents & (POLLERR | POLLNVAL)))
				continue;
			if (r < 0 && errno == EINTR)
				continue;
		}
		stream->out_dead = true;
		if (stream->out == STDOUT_FILENO)
			log_warn("cannot write to standard output (%s): the command's output is no longer relayed",
				 w < 0 ? strerror(errno) : "write returned 0");
	}
}

static void read_stream(struct supervision *sv, struct stream *stream)
{
	static char spare[RELAY_CHUNK]; /* only when no tail is kept; one loop, no threads */
	for (int rounds = 0; rounds < 16 && stream->fd >= 0; rounds++) {
		/* Read straight into the tail and relay from there: no copy
		 * beyond what the kernel does. */
		bool keep = stream->tail->max > 0;
		size_t room = keep && stream->tail->max < RELAY_CHUNK ? stream->tail->max : RELAY_CHUNK;
		char *buf = keep ? tail_reserve(stream->tail, room) : spare;
		ssize_t n = read(stream->fd, buf, room);
		if (n > 0) {
			if (keep)
				tail_commit(stream->tail, (size_t)n);
			relay(stream, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* EOF, or an error that will not go away. */
		if (close(stream->fd) != 0 && errno != EINTR)
			log_debug("closing the command's pipe: %s", strerror(errno));
		stream->fd = -1;
	}
	(void)sv;
}

static void record_exit(struct supervision *sv, int status)
{
	struct command_result *res = sv->res;
	sv->child_exited = true;
	res->duration_s = (double)(now_ms(sv) - sv->start_ms) / 1000.0;
	if (WIFEXITED(status)) {
		res->exit_code = WEXITSTATUS(status);
		res->term_signal = 0;
	} else {
		res->exit_code = -1;
		res->term_signal = WTERMSIG(status);
		res->killed_by_agent = res->stop != STOP_NONE || sigismember(&sv->sent, res->term_signal) == 1;
	}
}

/* Reaps every child that has exited: as PID 1 or a subreaper, orphans of the
 * command are ours to collect. */
static void reap(struct supervision *sv)
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
		if (p == sv->pid && !sv->child_exited)
			record_exit(sv, status);
	}
}

static int64_t min_deadline(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* The loop's timers: when each is due (monotonic ms), -1 when it is not
 * armed.  The one place that says which timer runs in which phase: the
 * loop sleeps until the earliest, run_timers fires those that are due. */
struct timers {
	int64_t tick;    /* RUNNING: the run mode's callback (heartbeats) */
	int64_t timeout; /* RUNNING, not stopping yet: --timeout */
	int64_t grace;   /* RUNNING, stopping: SIGKILL to the group */
	int64_t drain;   /* DRAIN: the end of the drain, SIGKILL to what is left */
	int64_t sweep;   /* DRAIN, leftovers alive or the drain over: look again */
	int64_t give_up; /* DRAIN: leave leftovers that survive SIGKILL */
};

static struct timers armed_timers(const struct supervision *sv, int64_t now)
{
	struct timers t = { -1, -1, -1, -1, -1, -1 };
	switch (sv->phase) {
	case RUNNING:
		t.tick = sv->tick_at;
		t.timeout = sv->res->stop == STOP_NONE ? sv->timeout_at : -1;
		t.grace = sv->killed ? -1 : sv->kill_at;
		break;
	case DRAIN:
		t.drain = sv->drain_over ? -1 : sv->drain_until;
		t.sweep = !sv->leftovers_gone || sv->drain_over ? now + CLEANUP_POLL_MS : -1;
		t.give_up = sv->cleanup_end;
		break;
	case DONE:
		break;
	}
	return t;
}

static int64_t earliest(struct timers t)
{
	int64_t next = min_deadline(t.tick, t.timeout);
	next = min_deadline(next, t.grace);
	next = min_deadline(next, t.drain);
	next = min_deadline(next, t.sweep);
	return min_deadline(next, t.give_up);
}

static bool due(int64_t at, int64_t now)
{
	return at >= 0 && now >= at;
}

/* Fires the timers that are due, and in DRAIN looks at the pipes and the
 * leftovers after every wake-up. */
static void run_timers(struct supervision *sv)
{
	const struct supervise_config *cfg = sv->cfg;
	int64_t now = now_ms(sv);
	if (due(armed_timers(sv, now).tick, now)) {
		bool stop = false;
		sv->tick_at = cfg->tick.fn(cfg->tick.ctx, now, &stop);
		if (stop && sv->res->stop == STOP_NONE) {
			log_info("stopping the command: SIGTERM now, SIGKILL in %lld s", (long long)(cfg->grace_ms / 1000));
			begin_stop(sv, STOP_TOKEN_LOST, SIGTERM);
		}
		now = now_ms(sv);
	}
	struct timers t = armed_timers(sv, now);
	if (due(t.timeout, now)) {
		log_info("the command ran longer than --timeout (%lld s): terminating it",
			 (long long)(cfg->timeout_ms / 1000));
		begin_stop(sv, STOP_TIMEOUT, SIGTERM);
	}
	if (due(t.grace, now)) {
		sv->killed = true;
		log_info("the command did not stop within the grace period: sending SIGKILL");
		send_signal(sv, SIGKILL, true);
	}
	if (sv->phase != DRAIN)
		return;
	if (due(t.drain, now)) {
		sv->drain_over = true;
		if (!sv->leftovers_gone) {
			log_info("leftover processes of the command are still running: sending SIGKILL");
			if (kill(-sv->pid, SIGKILL) != 0 && errno != ESRCH)
				log_warn("cannot signal the command's process group: %s", strerror(errno));
		}
	}
	if (!sv->leftovers_gone)
		sv->leftovers_gone = cleanup_round(sv, sv->drain_over);
	bool pipes_done = sv->drain_over || (sv->streams[0].fd < 0 && sv->streams[1].fd < 0);
	if (pipes_done && sv->leftovers_gone) {
		sv->phase = DONE;
	} else if (due(t.give_up, now)) {
		log_warn("leftover processes of the command did not die after SIGKILL: giving up on them");
		sv->phase = DONE;
	}
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
	struct supervision sv;
	memset(&sv, 0, sizeof sv);
	sv.cfg = cfg;
	sv.res = res;
	sv.sfd = -1;
	sv.pid = -1;
	sv.streams[0].fd = sv.streams[1].fd = -1;
	sv.timeout_at = sv.kill_at = -1;
	sigemptyset(&sv.sent);

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
	sv.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sv.sfd < 0) {
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
	sv.start_ms = now_ms(&sv);
	pid_t pid = fork();
	if (pid < 0) {
		err_set(err, "cannot start the command: fork failed (%s)", strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(cfg, env, out_p[1], err_p[1], exec_p[1], (struct outfile[]){ of, mark }, 2, take_tty);
	sv.pid = pid;
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
		res->duration_s = (double)(now_ms(&sv) - sv.start_ms) / 1000.0;
		rc = 0;
		goto out;
	}
	res->started = true;

	sv.streams[0] = (struct stream){ out_p[0], STDOUT_FILENO, false, &res->stdout_tail };
	sv.streams[1] = (struct stream){ err_p[0], STDERR_FILENO, false, &res->stderr_tail };
	out_p[0] = err_p[0] = -1;
	for (int i = 0; i < 2; i++)
		if (fcntl(sv.streams[i].fd, F_SETFL, O_NONBLOCK) != 0)
			log_debug("cannot make the command's pipe non-blocking: %s", strerror(errno));
	if (cfg->timeout_ms > 0)
		sv.timeout_at = sv.start_ms + cfg->timeout_ms;
	sv.tick_at = cfg->tick.fn ? cfg->tick.next_ms : -1;
	sv.phase = RUNNING;

	while (sv.phase != DONE) {
		int64_t t = now_ms(&sv);
		int64_t next = earliest(armed_timers(&sv, t));
		int timeout = -1;
		if (next >= 0)
			timeout = next <= t ? 0 : (next - t > 60000 ? 60000 : (int)(next - t));

		struct pollfd pfd[3];
		nfds_t nfd = 0;
		pfd[nfd++] = (struct pollfd){ sv.sfd, POLLIN, 0 };
		int idx[2] = { -1, -1 };
		for (int i = 0; i < 2; i++) {
			if (sv.streams[i].fd >= 0) {
				idx[i] = (int)nfd;
				pfd[nfd++] = (struct pollfd){ sv.streams[i].fd, POLLIN, 0 };
			}
		}
		int ready = poll(pfd, nfd, timeout);
		if (ready < 0 && errno != EINTR) {
			err_set(err, "poll failed (%s): this is a bug, please report it", strerror(errno));
			/* The command is still out there: take it down before leaving. */
			send_signal(&sv, SIGKILL, true);
			goto out;
		}
		if (ready > 0) {
			for (int i = 0; i < 2; i++)
				if (idx[i] >= 0 && pfd[idx[i]].revents)
					read_stream(&sv, &sv.streams[i]);
			if (pfd[0].revents)
				handle_signals(&sv);
		}
		reap(&sv);
		if (sv.phase == RUNNING && sv.child_exited)
			start_drain(&sv);
		run_timers(&sv);
	}
	/* The last leftovers may have turned into zombies just now. */
	reap(&sv);
	rc = 0;

out:
	if (take_tty && sv.pid > 0 && tcsetpgrp(STDIN_FILENO, getpgrp()) != 0)
		log_debug("cannot take the terminal back: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		close_fd(&sv.streams[i].fd);
	if (rc == 0 && res->started) {
		struct err e;
		if (outfile_read(&of, OUTPUT_READ_MAX, &res->output_file, &e) != 0)
			log_warn("%s", e.msg);
		if (outfile_read(&mark, 4096, &res->report_mark, &e) != 0)
			log_warn("%s", e.msg);
	}
	if (rc != 0 && sv.pid > 0 && !sv.child_exited && res->started) {
		int status;
		while (waitpid(sv.pid, &status, 0) < 0 && errno == EINTR)
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
	close_fd(&sv.sfd);
	if (env)
		free_env(env);
	free(sv.termed);
	return rc;
}
