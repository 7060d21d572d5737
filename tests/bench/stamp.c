/*
 * The benchmark's job: optionally sleeps, then prints the clocks as the very last thing it does,
 * so the bench can time "command exit -> report arrival" and "execve of the agent -> execve of
 * the command" (with no sleep, the print is right at the start of main).
 *
 *   stamp [--sleep SECONDS] [--out FILE]
 *
 * Prints "MONOTONIC_NS REALTIME_NS\n" to FILE (or stdout) with a single write.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	const char *out = NULL;
	double sleep_s = 0;
	char line[64];
	int fd = 1, n, i;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--sleep"))
			sleep_s = strtod(argv[i + 1], NULL);
		else if (!strcmp(argv[i], "--out"))
			out = argv[i + 1];
	}
	if (sleep_s > 0) {
		struct timespec ts = { (time_t)sleep_s, (long)((sleep_s - (time_t)sleep_s) * 1e9) };

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
	if (out && (fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) == -1) {
		perror(out);
		return 1;
	}
	n = snprintf(line, sizeof(line), "%lld %lld\n", ns(CLOCK_MONOTONIC), ns(CLOCK_REALTIME));
	if (write(fd, line, (size_t)n) != n)
		return 1;
	return 0;
}
