/* Starting the command: its pipes, its environment, and the child between
 * fork and exec (descriptors, signals, limits). */
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

/* The environment for the command: ours, with SFN_OUTPUT and
 * SFN_AGENT_REPORT_MARK set.  Built before fork, so the child only calls
 * async-signal-safe functions; each of the two has room for the child to
 * write /proc/<its pid>/fd/N over the value (outfile_proc_path). */
#define PROC_PATH_ROOM 48
char **build_env(const char *output, const char *mark)
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

void free_env(char **env)
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

_Noreturn void child_exec(const struct supervise_config *cfg, char **env, int out_w, int err_w, int exec_w,
				 const struct outfile *give, size_t n_give, bool take_tty)
{
	if (setpgid(0, 0) != 0) {
		/* Not fatal: the parent makes the group too (setpgid(pid, pid)
		 * in supervise_run), whichever of the two runs first.  Should both
		 * fail, the command stays in the agent's group and signals for
		 * its group (kill(-pid)) find no such group: only the leftover
		 * sweep, which walks /proc, still reaches its descendants. */
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
char *missing_interpreter(const char *name)
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

int pipe_above_stdio(int fds[2], struct err *err)
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
