/* The supervisor with real processes: relay, exit statuses, exec failures,
 * timeouts, leftovers, ticks, signal forwarding and the child's signal state.
 * The test binary doubles as the command for the helpers (argv[1] "helper"). */
#include "wrapper/supervise.h"
#include "base/log.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static char self_exe[4096];

static unsigned char pattern(size_t i, int which)
{
	return (unsigned char)((i * 7) ^ (i >> 8) ^ (which ? 0x5a : 0));
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int helper(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[2], "binary") == 0) {
		size_t n_out = strtoul(argv[3], NULL, 10), n_err = strtoul(argv[4], NULL, 10);
		unsigned char *o = malloc(n_out), *e = malloc(n_err);
		for (size_t i = 0; i < n_out; i++)
			o[i] = pattern(i, 0);
		for (size_t i = 0; i < n_err; i++)
			e[i] = pattern(i, 1);
		/* Odd-sized, interleaved chunks. */
		size_t a = 0, b = 0, step = 1;
		int rc = 0;
		while (a < n_out || b < n_err) {
			size_t k = a + step < n_out ? step : n_out - a;
			if (k && write_all(1, o + a, k) != 0) {
				rc = 2;
				break;
			}
			a += k;
			k = b + step / 3 < n_err ? step / 3 : n_err - b;
			if (k && write_all(2, e + b, k) != 0) {
				rc = 2;
				break;
			}
			b += k;
			step = step * 3 % 70001 + 1;
		}
		free(o);
		free(e);
		return rc;
	}
	if (argc >= 3 && strcmp(argv[2], "sigstate") == 0) {
		FILE *f = fopen("/proc/self/status", "r");
		char line[256];
		while (f && fgets(line, sizeof line, f))
			if (strncmp(line, "SigBlk:", 7) == 0 || strncmp(line, "SigIgn:", 7) == 0)
				fputs(line, stdout);
		return 0;
	}
	return 99;
}

/* Runs the supervisor with fd 1 and 2 captured in memfds. */
struct run {
	struct command_result res;
	int rc;
	struct err err;
	struct buf out, errout;
	int64_t ms;
};

static void slurp(int fd, struct buf *b)
{
	char chunk[65536];
	ssize_t n;
	off_t off = 0;
	while ((n = pread(fd, chunk, sizeof chunk, off)) > 0) {
		buf_append(b, chunk, (size_t)n);
		off += n;
	}
}

static struct supervise_config base_config(char *const *argv)
{
	struct supervise_config c;
	memset(&c, 0, sizeof c);
	c.sys = &sys_real;
	c.argv = argv;
	c.grace_ms = 1000;
	/* A safety net: a broken supervisor fails the test instead of hanging it. */
	c.timeout_ms = 6000;
	c.signal_target = TARGET_GROUP;
	c.tick.next_ms = -1;
	c.stdout_keep = 1 << 20;
	c.stderr_keep = 32768;
	return c;
}

static void run(const struct supervise_config *cfg, struct run *r)
{
	memset(r, 0, sizeof *r);
	fflush(stdout);
	int s1 = dup(1), s2 = dup(2);
	int m1 = memfd_create("out", MFD_CLOEXEC), m2 = memfd_create("err", MFD_CLOEXEC);
	dup2(m1, 1);
	dup2(m2, 2);
	int64_t t0 = sys_real.mono_ms();
	r->rc = supervise_run(cfg, &r->res, &r->err);
	r->ms = sys_real.mono_ms() - t0;
	dup2(s1, 1);
	dup2(s2, 2);
	close(s1);
	close(s2);
	slurp(m1, &r->out);
	slurp(m2, &r->errout);
	close(m1);
	close(m2);
}

static void run_free(struct run *r)
{
	command_result_free(&r->res);
	buf_free(&r->out);
	buf_free(&r->errout);
}

static struct span tail_str(const struct tail *t)
{
	return tail_span(t);
}

static bool tail_is(const struct tail *t, const char *s)
{
	struct span sp = tail_str(t);
	return sp.len == strlen(s) && memcmp(sp.ptr, s, sp.len) == 0;
}

static void test_relay_exact(void)
{
	char *argv[] = { self_exe, "helper", "binary", "1000000", "300000", NULL };
	struct supervise_config c = base_config(argv);
	c.stderr_keep = 1000;
	struct run r;
	run(&c, &r);
	CHECK(r.rc == 0 && r.res.started && r.res.exit_code == 0 && r.res.term_signal == 0);
	CHECK(r.out.len == 1000000 && r.errout.len == 300000);
	bool same = r.out.len == 1000000;
	for (size_t i = 0; same && i < r.out.len; i++)
		same = (unsigned char)r.out.data[i] == pattern(i, 0);
	CHECK(same);
	same = r.errout.len == 300000;
	for (size_t i = 0; same && i < r.errout.len; i++)
		same = (unsigned char)r.errout.data[i] == pattern(i, 1);
	CHECK(same);
	/* The tails are the ends of the streams. */
	struct span t = tail_str(&r.res.stdout_tail);
	CHECK(t.len == 1000000 && memcmp(t.ptr, r.out.data, t.len) == 0);
	t = tail_str(&r.res.stderr_tail);
	CHECK(t.len == 1000 && memcmp(t.ptr, r.errout.data + 300000 - 1000, 1000) == 0);
	CHECK(tail_truncated(&r.res.stderr_tail));
	run_free(&r);
}

static void test_exit_statuses(void)
{
	char *a1[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	struct supervise_config c = base_config(a1);
	struct run r;
	run(&c, &r);
	CHECK(r.rc == 0 && r.res.started && r.res.exit_code == 3 && r.res.term_signal == 0);
	CHECK(tail_is(&r.res.stdout_tail, "out\n") && tail_is(&r.res.stderr_tail, "err\n"));
	CHECK(r.res.stop == STOP_NONE && !r.res.killed_by_agent);
	CHECK(r.res.duration_s >= 0 && r.res.duration_s < 2);
	CHECK_STR(r.res.command, "sh");
	run_free(&r);

	char *a2[] = { "sh", "-c", "kill -KILL $$", NULL };
	c = base_config(a2);
	run(&c, &r);
	CHECK(r.res.started && r.res.exit_code == -1 && r.res.term_signal == SIGKILL);
	CHECK(!r.res.killed_by_agent && r.res.stop == STOP_NONE);
	run_free(&r);

	/* SFN_OUTPUT and the report mark are reachable and read back. */
	char *a3[] = { "sh", "-c", "printf '{\"a\": 1}' > \"$SFN_OUTPUT\"; echo sent > \"$SFN_AGENT_REPORT_MARK\"",
		       NULL };
	c = base_config(a3);
	run(&c, &r);
	CHECK(r.res.exit_code == 0);
	CHECK_STR(buf_cstr(&r.res.output_file), "{\"a\": 1}");
	CHECK_STR(buf_cstr(&r.res.report_mark), "sent\n");
	run_free(&r);
}

static void test_exec_failures(void)
{
	char *a1[] = { "/nonexistent/sfn-test-command", NULL };
	struct supervise_config c = base_config(a1);
	struct run r;
	run(&c, &r);
	CHECK(r.rc == 0 && !r.res.started && r.res.exec_errno == ENOENT);
	run_free(&r);

	char *a2[] = { "sfn-test-no-such-command-on-path", "x", NULL };
	c = base_config(a2);
	run(&c, &r);
	CHECK(r.rc == 0 && !r.res.started && r.res.exec_errno == ENOENT);
	run_free(&r);

	char path[] = "/tmp/sfn-test-noexec-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	char *a3[] = { path, NULL };
	c = base_config(a3);
	run(&c, &r);
	CHECK(r.rc == 0 && !r.res.started && r.res.exec_errno == EACCES);
	unlink(path);
	run_free(&r);
}

static void test_timeout(void)
{
	char *a1[] = { "sleep", "30", NULL };
	struct supervise_config c = base_config(a1);
	c.timeout_ms = 300;
	c.grace_ms = 1000;
	struct run r;
	run(&c, &r);
	CHECK(r.res.stop == STOP_TIMEOUT && r.res.term_signal == SIGTERM && r.res.killed_by_agent);
	CHECK(r.res.timeout_ms == 300);
	CHECK(r.ms >= 300 && r.ms < 300 + 1000 + 1000);
	run_free(&r);

	/* A command that ignores SIGTERM is killed after the grace period. */
	char *a2[] = { "sh", "-c", "trap '' TERM; sleep 30", NULL };
	c = base_config(a2);
	c.timeout_ms = 200;
	c.grace_ms = 500;
	run(&c, &r);
	CHECK(r.res.stop == STOP_TIMEOUT && r.res.term_signal == SIGKILL && r.res.killed_by_agent);
	CHECK(r.ms >= 700 && r.ms < 200 + 500 + 1000);
	run_free(&r);
}

static bool alive(pid_t pid)
{
	return kill(pid, 0) == 0;
}

static void test_leftovers(void)
{
	/* The sleep keeps the pipes open; the report must not wait for it. */
	char *a1[] = { "sh", "-c", "sleep 600 & echo $!", NULL };
	struct supervise_config c = base_config(a1);
	struct run r;
	run(&c, &r);
	CHECK(r.res.exit_code == 0);
	CHECK(r.ms < 1500);
	pid_t bg = (pid_t)atol(buf_cstr(&r.out));
	CHECK(bg > 0 && !alive(bg));
	run_free(&r);

	/* Left the group with setsid and closed its stdio: still cleaned up. */
	char *a2[] = { "sh", "-c", "setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!", NULL };
	c = base_config(a2);
	run(&c, &r);
	CHECK(r.res.exit_code == 0);
	CHECK(r.ms < 1500);
	bg = (pid_t)atol(buf_cstr(&r.out));
	CHECK(bg > 0 && !alive(bg));
	run_free(&r);
}

static void test_leftover_cleans_up(void)
{
	/* A leftover gets one SIGTERM, and what its trap starts is not killed
	 * before the SIGKILL deadline. */
	char *a1[] = { "sh", "-c",
		       "(trap 'echo cleaning >&2; sleep 0.3; echo cleaned >&2; exit 0' TERM; "
		       "while :; do sleep 0.1; done) & echo started", NULL };
	struct supervise_config c = base_config(a1);
	struct run r;
	run(&c, &r);
	CHECK(r.res.exit_code == 0);
	CHECK(strstr(buf_cstr(&r.errout), "cleaning") && strstr(buf_cstr(&r.errout), "cleaned"));
	CHECK(r.ms < 1000 + 2000);
	run_free(&r);
}

static void test_leftover_ignoring_sigterm_delays_little(void)
{
	/* A leftover that ignores SIGTERM and holds stdout open: the result
	 * still comes about DRAIN_MS (1 s) after the command's exit, and the
	 * leftover is gone. */
	char *a1[] = { "sh", "-c", "(trap '' TERM; exec sleep 30) & echo $!", NULL };
	struct supervise_config c = base_config(a1);
	struct run r;
	run(&c, &r);
	CHECK(r.res.exit_code == 0);
	CHECK(r.ms < 1000 + 600);
	pid_t bg = (pid_t)atol(buf_cstr(&r.out));
	CHECK(bg > 0 && !alive(bg));
	run_free(&r);
}

struct ticker {
	int calls;
	int stop_at;   /* call number that asks to stop, 0: never */
	int signal_at; /* call number that sends `sig` to ourselves */
	int sig;
};

static int64_t tick(void *ctx, int64_t now, bool *stop)
{
	struct ticker *t = ctx;
	t->calls++;
	if (t->stop_at && t->calls == t->stop_at)
		*stop = true;
	if (t->signal_at && t->calls == t->signal_at)
		kill(getpid(), t->sig);
	return now + 100;
}

static void test_tick_and_token_lost(void)
{
	char *a1[] = { "sleep", "1", NULL };
	struct supervise_config c = base_config(a1);
	struct ticker t = { 0, 0, 0, 0 };
	c.tick = (struct supervise_tick){ &t, tick, sys_real.mono_ms() + 100 };
	struct run r;
	run(&c, &r);
	CHECK(r.res.exit_code == 0);
	CHECK(t.calls >= 6 && t.calls <= 11);
	run_free(&r);

	char *a2[] = { "sleep", "30", NULL };
	c = base_config(a2);
	t = (struct ticker){ 0, 3, 0, 0 };
	c.tick = (struct supervise_tick){ &t, tick, sys_real.mono_ms() };
	run(&c, &r);
	CHECK(r.res.stop == STOP_TOKEN_LOST && r.res.term_signal == SIGTERM && r.res.killed_by_agent);
	CHECK(r.ms < 1500);
	CHECK(t.calls == 3);
	run_free(&r);
}

static void test_child_signal_state(void)
{
	/* Make the agent's own state differ from the default, so that a child
	 * that inherited it would show it. */
	struct sigaction ign = { 0 }, old;
	ign.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &ign, &old);
	char *argv[] = { self_exe, "helper", "sigstate", NULL };
	struct supervise_config c = base_config(argv);
	struct run r;
	run(&c, &r);
	sigaction(SIGHUP, &old, NULL);
	CHECK(r.res.exit_code == 0);
	CHECK(strstr(buf_cstr(&r.out), "SigBlk:\t0000000000000000\n") != NULL);
	CHECK(strstr(buf_cstr(&r.out), "SigIgn:\t0000000000000000\n") != NULL);
	if (check_case_failed)
		fprintf(stderr, "  child said: %s", buf_cstr(&r.out));
	run_free(&r);
}

static void test_signal_forwarding(void)
{
	/* SIGTERM to the agent: forwarded to the group, recorded as a stop. */
	char *a1[] = { "sh", "-c", "trap 'echo got TERM; exit 7' TERM; sleep 30 & wait", NULL };
	struct supervise_config c = base_config(a1);
	struct ticker t = { 0, 0, 2, SIGTERM };
	c.tick = (struct supervise_tick){ &t, tick, sys_real.mono_ms() + 100 };
	struct run r;
	run(&c, &r);
	CHECK(r.res.stop == STOP_SIGNAL && r.res.stop_signal == SIGTERM && r.res.agent_signal == SIGTERM);
	CHECK(r.res.exit_code == 7 && tail_is(&r.res.stdout_tail, "got TERM\n"));
	CHECK(r.ms < 1500);
	run_free(&r);

	char *a2[] = { "sleep", "30", NULL };
	c = base_config(a2);
	t = (struct ticker){ 0, 0, 1, SIGINT };
	c.tick = (struct supervise_tick){ &t, tick, sys_real.mono_ms() + 50 };
	run(&c, &r);
	CHECK(r.res.stop == STOP_SIGNAL && r.res.stop_signal == SIGINT);
	CHECK(r.res.term_signal == SIGINT && r.res.killed_by_agent);
	run_free(&r);

	/* Other signals are forwarded and do not stop anything by themselves. */
	char *a3[] = { "sh", "-c", "trap 'echo got HUP; exit 5' HUP; sleep 30 & wait", NULL };
	c = base_config(a3);
	t = (struct ticker){ 0, 0, 2, SIGHUP };
	c.tick = (struct supervise_tick){ &t, tick, sys_real.mono_ms() + 100 };
	run(&c, &r);
	CHECK(r.res.stop == STOP_NONE && r.res.exit_code == 5 && tail_is(&r.res.stdout_tail, "got HUP\n"));
	run_free(&r);

	/* --signal-target child: only the command, not the rest of its group.
	 * sh waits for the sleep, which never gets the signal, so the grace
	 * period ends it. */
	char *a4[] = { "sh", "-c", "sleep 30; echo after", NULL };
	c = base_config(a4);
	c.signal_target = TARGET_CHILD;
	c.grace_ms = 300;
	t = (struct ticker){ 0, 0, 1, SIGUSR1 };
	c.tick = (struct supervise_tick){ &t, tick, sys_real.mono_ms() + 100 };
	run(&c, &r);
	CHECK(r.res.stop == STOP_NONE && r.res.term_signal == SIGUSR1 && r.res.killed_by_agent);
	run_free(&r);
}

static void test_stop_before_start(void)
{
	/* A SIGTERM that arrived before the command started (during the first
	 * heartbeat) is not lost: the command gets it as soon as it runs. */
	char *a1[] = { "sleep", "30", NULL };
	struct supervise_config c = base_config(a1);
	kill(getpid(), SIGTERM);
	struct run r;
	run(&c, &r);
	CHECK(r.res.stop == STOP_SIGNAL && r.res.stop_signal == SIGTERM && r.res.term_signal == SIGTERM);
	CHECK(r.ms < 1000);
	run_free(&r);
}

static void test_pending_stop(void)
{
	CHECK(supervise_pending_stop() == 0);
	kill(getpid(), SIGTERM);
	CHECK(supervise_pending_stop() == SIGTERM);
	CHECK(supervise_pending_stop() == 0);
}

/* Like RUN, under another name: the same test in the PID 1 pass. */
#define RUN_PID1(test)                                                          \
	do {                                                                    \
		check_case_failed = 0;                                          \
		test();                                                         \
		printf("%s pid1_%s\n", check_case_failed ? "FAIL" : "PASS", #test); \
		fflush(stdout);                                                 \
		check_failures += check_case_failed;                            \
	} while (0)

/* The agent is PID 1 in a container, with different rules for signals and
 * orphans: run the tests where that matters again as PID 1 of a new PID
 * namespace, like tini's tests run in several modes.  Needs root and
 * unshare(1); without them this pass does not run, and says so on stderr
 * (it prints no PASS line for what it did not test). */
static int pid1_pass(void)
{
	if (geteuid() != 0 || access("/usr/bin/unshare", X_OK) != 0) {
		fprintf(stderr, "note: PID 1 pass not run (needs root and /usr/bin/unshare)\n");
		return 0;
	}
	int p[2];
	if (pipe(p) != 0)
		return 1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execl("/usr/bin/unshare", "unshare", "--fork", "--pid", "--mount-proc", self_exe, "pid1",
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	FILE *f = fdopen(p[0], "r");
	char line[256];
	int lines = 0, failed = 0;
	while (f && fgets(line, sizeof line, f)) {
		fputs(line, stdout);
		lines++;
		failed += strncmp(line, "FAIL", 4) == 0;
	}
	if (f)
		fclose(f);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (lines == 0) {
		fprintf(stderr, "note: PID 1 pass not run (unshare could not create a PID namespace here)\n");
		return 0;
	}
	return failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

/* The fallbacks of spawn_cloexec_from (kernels before close_range's
 * CLOSE_RANGE_CLOEXEC, C libraries without it): in a child, every descriptor
 * from 3 up ends close-on-exec, and 0-2 are left alone. */
static void test_cloexec_fallback(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	int high = fcntl(p[0], F_DUPFD, 200);
	CHECK(high >= 200);
	pid_t pid = fork();
	if (pid == 0) {
		spawn_cloexec_from(3, false);
		int ok = (fcntl(p[0], F_GETFD) & FD_CLOEXEC) && (fcntl(p[1], F_GETFD) & FD_CLOEXEC) &&
			 (fcntl(high, F_GETFD) & FD_CLOEXEC) && !(fcntl(1, F_GETFD) & FD_CLOEXEC) &&
			 !(fcntl(2, F_GETFD) & FD_CLOEXEC);
		_exit(ok ? 0 : 1);
	}
	int status = -1;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(p[0]);
	close(p[1]);
	close(high);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "helper") == 0)
		return helper(argc, argv);
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
	if (n <= 0)
		return 2;
	self_exe[n] = '\0';
	log_setup(LOG_ERROR, LOG_TEXT);
	struct err e;
	if (supervise_prepare(&e) != 0) {
		fprintf(stderr, "%s\n", e.msg);
		return 2;
	}
	if (argc >= 2 && strcmp(argv[1], "pid1") == 0) {
		if (getpid() != 1) {
			printf("FAIL pid1_is_pid1\n");
			return 1;
		}
		RUN_PID1(test_exit_statuses);
		RUN_PID1(test_leftovers);
		RUN_PID1(test_child_signal_state);
		RUN_PID1(test_signal_forwarding);
		RUN_PID1(test_stop_before_start);
		return CHECK_DONE();
	}
	RUN(test_relay_exact);
	RUN(test_exit_statuses);
	RUN(test_exec_failures);
	RUN(test_timeout);
	RUN(test_leftovers);
	RUN(test_leftover_cleans_up);
	RUN(test_leftover_ignoring_sigterm_delays_little);
	RUN(test_tick_and_token_lost);
	RUN(test_child_signal_state);
	RUN(test_signal_forwarding);
	RUN(test_stop_before_start);
	RUN(test_pending_stop);
	RUN(test_cloexec_fallback);
	if (pid1_pass() != 0)
		check_failures++;
	return CHECK_DONE();
}
