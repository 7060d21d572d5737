/* What the command leaves behind: every descendant still alive after it
 * exits gets SIGTERM, then SIGKILL at the end of the drain. */
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
bool cleanup_round(struct supervision *sv, bool kill_now)
{
	int sig = kill_now ? SIGKILL : SIGTERM;
	struct proc *procs = NULL;
	long n = descendants(&procs);
	if (n < 0) {
		/* No /proc: the group, and whatever we still have as children. */
		if (kill(-sv->pid, sig) != 0 && errno != ESRCH)
			log_warn("cannot signal the command's process group: %s", strerror(errno));
		free(procs);
		return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
	}
	pid_t self = getpid();
	for (long i = 0; i < n; i++) {
		pid_t pid = procs[i].pid;
		bool seen = false;
		for (size_t j = 0; j < sv->n_termed && !seen; j++)
			seen = sv->termed[j] == pid;
		if (!kill_now && (seen || (sv->first_round_done && procs[i].ppid != self)))
			continue;
		if (!seen) {
			sv->termed = array_reserve(sv->termed, sv->n_termed, &sv->cap_termed, sizeof *sv->termed);
			sv->termed[sv->n_termed++] = pid;
		}
		/* Once per process: the SIGKILL round repeats every CLEANUP_POLL_MS. */
		if (kill(pid, sig) != 0 && errno != ESRCH && !seen)
			log_warn("cannot send %s to leftover process %ld: %s", signame(sig), (long)pid,
				 strerror(errno));
	}
	sv->first_round_done = true;
	free(procs);
	return n == 0;
}

/* The command has exited: its leftovers get SIGTERM now and SIGKILL at the
 * end of the drain. */
void start_drain(struct supervision *sv)
{
	int64_t t = now_ms(sv);
	sv->phase = DRAIN;
	sv->drain_until = t + DRAIN_MS;
	sv->cleanup_end = t + DRAIN_MS + CLEANUP_KILL_MS;
	/* Without the subreaper, group members whose parents died went to
	 * init, out of our sight in /proc: reach them through the group.  With
	 * it, every one of them is a descendant and gets exactly one SIGTERM
	 * below (a second one could cut short a shell's own clean-up trap). */
	if (!orphans_are_ours && kill(-sv->pid, SIGTERM) != 0 && errno != ESRCH)
		log_warn("cannot signal the command's process group: %s", strerror(errno));
	sv->leftovers_gone = cleanup_round(sv, false);
	if (!sv->leftovers_gone)
		log_info("the command left %zu process(es) running: sent SIGTERM, SIGKILL in %d s",
			 sv->n_termed, DRAIN_MS / 1000);
}
