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
