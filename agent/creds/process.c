/* credential_process: a command of the user's that prints credentials as
 * JSON (Version 1).  Run without a shell, its command line split as the
 * SDKs split it; its stdout read whole, its stderr passed through to ours,
 * its time bounded. */
#include "agent/creds/creds.h"

#include "base/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* More than any credentials answer; a command printing more is the wrong
 * command. */
#define PROCESS_OUTPUT_MAX (64 * 1024)
/* The SDKs wait forever; a task waiting for its report must not.  A
 * command that opens a browser for a login would need longer, but there is
 * no one at a container's screen. */
#define PROCESS_TIMEOUT_MS (60 * 1000)
/* After the command exits, how long what it printed last may take to
 * arrive; a child it left behind may hold its stdout much longer. */
#define EXIT_GRACE_MS 200

void creds_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

int creds_process_split(const char *line, char ***out, struct err *err)
{
	/* POSIX shell quoting, as Python's shlex.split (what botocore uses):
	 * blanks separate words, '...' is literal, "..." keeps \" \\ \$ \`
	 * escapes, a backslash outside quotes takes the next character. No
	 * variables, globs or ~: there is no shell. */
	char **argv = NULL;
	size_t n = 0, cap = 0;
	struct buf w = BUF_INIT;
	const char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		buf_reset(&w);
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			if (*p == '\'') {
				const char *q = strchr(p + 1, '\'');
				if (!q)
					goto unbalanced;
				buf_append(&w, p + 1, (size_t)(q - p - 1));
				p = q + 1;
			} else if (*p == '"') {
				for (p++; *p != '"'; p++) {
					if (!*p)
						goto unbalanced;
					if (*p == '\\' && p[1] && strchr("\"\\$`\n", p[1]))
						p++;
					buf_putc(&w, *p);
				}
				p++;
			} else if (*p == '\\') {
				if (!p[1])
					goto unbalanced;
				if (p[1] != '\n')
					buf_putc(&w, p[1]);
				p += 2;
			} else {
				buf_putc(&w, *p++);
			}
		}
		argv = array_reserve(argv, n + 2, &cap, sizeof *argv);
		argv[n++] = xstrndup(w.data ? w.data : "", w.len);
		argv[n] = NULL;
	}
	buf_free(&w);
	if (n == 0) {
		free(argv);
		return err_set(err, "credential_process is empty: give the command to run");
	}
	if (!argv[0][0]) {
		creds_argv_free(argv);
		return err_set(err, "credential_process names an empty program (\"\"): give the command to run");
	}
	*out = argv;
	return 0;
unbalanced:
	buf_free(&w);
	if (argv)
		argv[n] = NULL;
	creds_argv_free(argv);
	/* The position, not the line: it may hold a password. */
	return err_set(err, "credential_process has an unbalanced quote or a trailing backslash (at character %zu): "
			    "close the quote",
		       (size_t)(p - line) + 1);
}

static const char *json_string(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* cJSON decodes \u0000 into a NUL that would cut a string short: such an
 * escape anywhere is refused.  Escapes are walked in pairs, so "\\u0000"
 * (a backslash, then text) is not one. */
bool creds_json_has_nul_escape(struct span text)
{
	for (size_t i = 0; i + 1 < text.len; i++) {
		if (text.ptr[i] != '\\')
			continue;
		if (text.ptr[i + 1] == 'u' && i + 5 < text.len && memcmp(text.ptr + i + 2, "0000", 4) == 0)
			return true;
		i++;
	}
	return false;
}

int creds_process_parse(struct span text, struct creds *out, struct err *err)
{
	int rc = -1;
	creds_clear(out);
	if (creds_json_has_nul_escape(text))
		return err_set(err, "its output holds a NUL character (\\u0000), which no key has: fix what it prints");
	cJSON *root = cJSON_ParseWithLength(text.ptr, text.len);
	if (!cJSON_IsObject(root)) {
		err_set(err, "its output is not a JSON object: it must print {\"Version\": 1, \"AccessKeyId\": ..., "
			     "\"SecretAccessKey\": ...}");
		goto out;
	}
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "Version");
	if (!cJSON_IsNumber(version) || version->valuedouble != 1) {
		err_set(err, "its output has %s Version: it must be 1",
			version ? "an unsupported" : "no");
		goto out;
	}
	const char *ak = json_string(root, "AccessKeyId");
	const char *sk = json_string(root, "SecretAccessKey");
	const char *tok = json_string(root, "SessionToken");
	const char *exp = json_string(root, "Expiration");
	if (!ak || !sk) {
		err_set(err, "its output has no %s", !ak ? "AccessKeyId" : "SecretAccessKey");
		goto out;
	}
	int64_t exp_ms = 0;
	if (exp && iso8601_parse_ms(span_str(exp), &exp_ms) != 0) {
		err_set(err, "its output has an Expiration that is not an ISO 8601 time: \"%.64s\"", exp);
		goto out;
	}
	out->access_key = xstrdup(ak);
	out->secret_key = xstrdup(sk);
	out->session_token = tok ? xstrdup(tok) : NULL;
	out->expires_ms = exp_ms;
	rc = 0;
out:
	if (root) {
		const char *secrets[] = {"SecretAccessKey", "SessionToken"};
		for (size_t i = 0; i < 2; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, secrets[i]);
			if (cJSON_IsString(v))
				explicit_bzero(v->valuestring, strlen(v->valuestring));
		}
	}
	cJSON_Delete(root);
	return rc;
}

static long process_timeout_ms(const struct sys *sys, struct err *err)
{
	/* SFN_AGENT_CREDENTIAL_PROCESS_TIMEOUT (whole seconds, 1-600), so a test
	 * of a command that hangs need not wait a minute.  A bad value is
	 * refused, like every other SFN_AGENT_ setting. */
	const char *v = sys_env(sys, "SFN_AGENT_CREDENTIAL_PROCESS_TIMEOUT");
	if (!v || !*v)
		return PROCESS_TIMEOUT_MS;
	char *end;
	errno = 0;
	long s = strtol(v, &end, 10);
	if (errno || end == v || *end || s < 1 || s > 600)
		return err_set(err, "SFN_AGENT_CREDENTIAL_PROCESS_TIMEOUT='%.32s' is not valid: give whole seconds from 1 to 600",
			       v);
	return s * 1000;
}

/* SIGINT/SIGTERM/SIGHUP while the command runs, when they would otherwise
 * kill us (the controller): the command, in its own process group, would be
 * left behind holding our stderr.  The run mode blocks these signals and
 * reads them from a signalfd, so the handlers never run there. */
static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void catch_stops(struct sigaction *old, bool *caught)
{
	stop_signal = 0;
	for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++) {
		caught[i] = false;
		if (sigaction(stop_signals[i], NULL, &old[i]) != 0 || old[i].sa_handler != SIG_DFL)
			continue;
		struct sigaction sa = {0};
		sa.sa_handler = on_stop;
		sigemptyset(&sa.sa_mask);
		caught[i] = sigaction(stop_signals[i], &sa, NULL) == 0;
	}
}

/* Puts the dispositions back; a stop that came meanwhile is then taken as
 * it would have been (the default: we die of it). */
static void release_stops(const struct sigaction *old, const bool *caught)
{
	for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
		if (caught[i])
			sigaction(stop_signals[i], &old[i], NULL);
	if (stop_signal)
		raise(stop_signal);
}

/* Runs argv with stdout into out; stdin is /dev/null (there is no one to
 * answer a prompt), stderr is ours.  0 with *status set, 1 when the time
 * ran out (the command's process group was killed), -1 with err. */
static int run(const struct sys *sys, char **argv, long timeout_ms, struct buf *out, int *status, struct err *err)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return err_set(err, "cannot make a pipe: %s", strerror(errno));
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawnattr_init(&at);
	/* The run mode blocks the signals it reads from a signalfd, and a mask
	 * is inherited across exec: the command gets a clean one.  Its own
	 * process group, so a timeout kills what it started too. */
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	pid_t pid;
	struct sigaction old[3];
	bool caught[3];
	catch_stops(old, caught);
	int e = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[1]);
	if (e != 0) {
		close(pfd[0]);
		release_stops(old, caught);
		if (e == ENOENT)
			return err_set(err, "%.200s was not found%s", argv[0],
				       strchr(argv[0], '/') ? "" : " in PATH: give its full path");
		return err_set(err, "cannot run %.200s: %s", argv[0], strerror(e));
	}

	int rc = 0, st = 0;
	bool exited = false;
	int64_t deadline = sys->mono_ms() + timeout_ms;
	char chunk[4096];
	for (;;) {
		/* The answer is complete when the command exits, even if a
		 * child it started in the background still holds the pipe. */
		if (stop_signal) {
			rc = err_set(err, "interrupted by %s", strsignal(stop_signal));
			break;
		}
		/* The run mode blocks them and reads them later from its
		 * signalfd: left pending, they are still seen there, and the
		 * stop is not delayed by the command's time limit. */
		sigset_t pending;
		if (sigpending(&pending) == 0 && (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT))) {
			rc = err_set(err, "interrupted by a stop signal");
			break;
		}
		if (!exited && waitpid(pid, &st, WNOHANG) == pid)
			exited = true;
		int64_t left = deadline - sys->mono_ms();
		if (left <= 0 && !exited) {
			rc = 1;
			break;
		}
		struct pollfd pf = {pfd[0], POLLIN, 0};
		/* Short waits while it runs, to notice its exit; once it has
		 * exited, a pipe quiet for EXIT_GRACE_MS is done. */
		int wait_ms = exited ? EXIT_GRACE_MS : left > 100 ? 100 : (int)left;
		int r = poll(&pf, 1, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_set(err, "cannot wait for %.200s: %s", argv[0], strerror(errno));
			break;
		}
		if (r == 0 && exited)
			break;
		if (r == 0)
			continue;
		ssize_t got = read(pfd[0], chunk, sizeof chunk);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (out->len + (size_t)got > PROCESS_OUTPUT_MAX) {
			rc = err_set(err, "%.200s printed more than %d bytes: is it the right command?", argv[0],
				     PROCESS_OUTPUT_MAX);
			break;
		}
		buf_append(out, chunk, (size_t)got);
	}
	close(pfd[0]);
	explicit_bzero(chunk, sizeof chunk);
	if (rc != 0 && !exited)
		kill(-pid, SIGKILL);
	while (!exited && waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			st = 0;
			break;
		}
	}
	*status = st;
	release_stops(old, caught);
	return rc;
}

int creds_process_fetch(const struct creds_ctx *ctx, const char *profile, const char *command, struct creds *out,
			struct err *err)
{
	char **argv = NULL;
	struct buf text = BUF_INIT;
	struct err perr = {""};
	int rc = -1, status = 0;

	creds_clear(out);
	if (creds_process_split(command, &argv, &perr) != 0) {
		err_set(err, "the AWS profile \"%s\": %s", profile, perr.msg);
		return -1;
	}
	long timeout = process_timeout_ms(ctx->sys, err);
	if (timeout < 0) {
		creds_argv_free(argv);
		return -1;
	}
	log_debug("credentials: profile \"%s\" runs credential_process %s", profile, argv[0]);
	int r = run(ctx->sys, argv, timeout, &text, &status, &perr);
	if (r < 0) {
		err_set(err, "credential_process of the AWS profile \"%s\": %s", profile, perr.msg);
		goto out;
	}
	if (r == 1) {
		err_set(err,
			"credential_process of the AWS profile \"%s\" (%.200s) did not finish within %ld s and "
			"was killed: make it answer without a prompt",
			profile, argv[0], timeout / 1000);
		goto out;
	}
	if (WIFSIGNALED(status)) {
		err_set(err, "credential_process of the AWS profile \"%s\" (%.200s) was killed by signal %d", profile,
			argv[0], WTERMSIG(status));
		goto out;
	}
	if (WEXITSTATUS(status) != 0) {
		err_set(err,
			"credential_process of the AWS profile \"%s\" (%.200s) exited with status %d: see what it "
			"printed on stderr",
			profile, argv[0], WEXITSTATUS(status));
		goto out;
	}
	if (creds_process_parse(span_of(text.data, text.len), out, &perr) != 0) {
		err_set(err, "credential_process of the AWS profile \"%s\" (%.200s): %s", profile, argv[0],
			perr.msg);
		goto out;
	}
	if (creds_check_printable(out, "credential_process", &perr) != 0) {
		err_set(err, "the AWS profile \"%s\": %s", profile, perr.msg);
		creds_clear(out);
		goto out;
	}
	/* As botocore: keys already expired would be fetched again on every
	 * call. */
	if (out->expires_ms && out->expires_ms <= ctx->sys->wall_ms()) {
		char when[32];
		time_t t = (time_t)(out->expires_ms / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		err_set(err,
			"credential_process of the AWS profile \"%s\" (%.200s) printed keys that expired at %s: "
			"make it print fresh ones",
			profile, argv[0], when);
		creds_clear(out);
		goto out;
	}
	rc = 0;
out:
	buf_free_secret(&text);
	creds_argv_free(argv);
	return rc;
}
