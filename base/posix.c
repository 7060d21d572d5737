#include "base/posix.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

const char *signal_name(int sig)
{
	static const struct {
		int sig;
		const char *name;
	} names[] = {
		{ SIGHUP, "SIGHUP" },   { SIGINT, "SIGINT" },       { SIGQUIT, "SIGQUIT" },   { SIGILL, "SIGILL" },
		{ SIGTRAP, "SIGTRAP" }, { SIGABRT, "SIGABRT" },     { SIGBUS, "SIGBUS" },     { SIGFPE, "SIGFPE" },
		{ SIGKILL, "SIGKILL" }, { SIGUSR1, "SIGUSR1" },     { SIGSEGV, "SIGSEGV" },   { SIGUSR2, "SIGUSR2" },
		{ SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" },     { SIGTERM, "SIGTERM" },   { SIGSTKFLT, "SIGSTKFLT" },
		{ SIGCHLD, "SIGCHLD" }, { SIGCONT, "SIGCONT" },     { SIGSTOP, "SIGSTOP" },   { SIGTSTP, "SIGTSTP" },
		{ SIGTTIN, "SIGTTIN" }, { SIGTTOU, "SIGTTOU" },     { SIGURG, "SIGURG" },     { SIGXCPU, "SIGXCPU" },
		{ SIGXFSZ, "SIGXFSZ" }, { SIGVTALRM, "SIGVTALRM" }, { SIGPROF, "SIGPROF" },   { SIGWINCH, "SIGWINCH" },
		{ SIGIO, "SIGIO" },     { SIGPWR, "SIGPWR" },       { SIGSYS, "SIGSYS" },
	};
	/* Names for the real-time signals, built once: no threads here. */
	static char rt[64][16];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].sig == sig)
			return names[i].name;
	if (sig >= SIGRTMIN && sig <= SIGRTMAX && sig - SIGRTMIN < 64) {
		char *s = rt[sig - SIGRTMIN];
		if (sig == SIGRTMIN)
			snprintf(s, sizeof rt[0], "SIGRTMIN");
		else
			snprintf(s, sizeof rt[0], "SIGRTMIN+%d", sig - SIGRTMIN);
		return s;
	}
	return NULL;
}
