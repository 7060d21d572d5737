/*
 * Runs COMMAND and writes the rusage of its whole reaped process tree to OUTFILE:
 *
 *   rusage OUTFILE COMMAND [ARG...]      ->  "STATUS UTIME_S STIME_S MAXRSS_KB\n"
 *
 * Why not wait4 from the bench itself: on execve the kernel records the old address space's peak
 * RSS as the process's own, and a child forked (or vforked) from the Python bench starts with
 * Python's pages, so every peak would read as the bench's size.  Forked from this small static
 * program instead, the peak is that of the command's tree.  STATUS is the wait status.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct rusage ru;
	FILE *out;
	pid_t pid;
	int st;

	if (argc < 3) {
		fprintf(stderr, "usage: rusage OUTFILE COMMAND [ARG...]\n");
		return 2;
	}
	pid = fork();
	if (pid == -1) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) == -1) {
		perror("wait4");
		return 2;
	}
	out = fopen(argv[1], "w");
	if (!out) {
		perror(argv[1]);
		return 2;
	}
	fprintf(out, "%d %ld.%06ld %ld.%06ld %ld\n", st, (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
		(long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, ru.ru_maxrss);
	if (fclose(out) != 0)
		return 2;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}
