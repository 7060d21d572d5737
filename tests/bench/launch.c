/*
 * Start overhead: runs COMMAND... RUNS times and prints, for each run, the nanoseconds from just
 * before its execve (CLOCK_MONOTONIC, taken in the forked child) to the moment the final program
 * (stamp, which prints CLOCK_MONOTONIC first thing) started.  With COMMAND = stamp this is the
 * cost of one execve; with COMMAND = sfn-agent -- stamp it is that plus the agent's own start.
 *
 *   launch RUNS COMMAND [ARG...]
 *
 * The child's stdout is a pipe: the child writes its own timestamp into it, then execs; stamp's
 * line comes through the same pipe (relayed by the agent when there is one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int runs, i;

	if (argc < 3) {
		fprintf(stderr, "usage: launch RUNS COMMAND [ARG...]\n");
		return 2;
	}
	runs = atoi(argv[1]);
	for (i = 0; i < runs; i++) {
		char buf[256];
		size_t len = 0;
		ssize_t r;
		int p[2], st;
		long long t0, t1;
		pid_t pid;

		if (pipe(p) == -1) {
			perror("pipe");
			return 1;
		}
		pid = fork();
		if (pid == -1) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			struct timespec ts;
			char line[32];
			int n, nul = open("/dev/null", O_WRONLY);

			dup2(p[1], 1);
			if (nul >= 0)
				dup2(nul, 2);
			close(p[0]);
			close(p[1]);
			clock_gettime(CLOCK_MONOTONIC, &ts);
			n = snprintf(line, sizeof(line), "%lld\n",
				     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
			if (write(1, line, (size_t)n) != n)
				_exit(1);
			execvp(argv[2], argv + 2);
			_exit(127);
		}
		close(p[1]);
		while (len < sizeof(buf) - 1 && (r = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)r;
		buf[len] = 0;
		close(p[0]);
		if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "launch: run %d failed\n", i);
			return 1;
		}
		if (sscanf(buf, "%lld %lld", &t0, &t1) != 2) {
			fprintf(stderr, "launch: run %d printed no times\n", i);
			return 1;
		}
		printf("%lld\n", t1 - t0);
	}
	return 0;
}
