/* From a finished command to the one report.
 *
 * Which error name wins, in order: ExecFailed (never started), then success
 * (exited with a success code, also after a stop: the command finished its
 * work) whose output may still be OutputInvalid, then ScriptTimedOut,
 * ContainerStopped, and last the --exit-code-map entry for the exit status or
 * the --error name.  A stop for a lost token keeps the --error name: the run
 * mode does not send that report anyway (the token is dead). */
#include "wrapper/result.h"

#include "base/json.h"
#include "base/term.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *trim_ws(const char *s, size_t *len)
{
	while (*len && (*s == ' ' || *s == '\t'))
		s++, (*len)--;
	while (*len && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
		(*len)--;
	return s;
}

/* A decimal status 0-255. */
static int parse_status(const char *s, size_t len, int *out)
{
	if (len == 0 || len > 3)
		return -1;
	int v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > 255)
		return -1;
	*out = v;
	return 0;
}

void exit_code_map_free(struct exit_code_map *map, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(map[i].error);
	free(map);
}

int exit_code_map_parse(const char *s, struct exit_code_map **map, size_t *n, struct err *err)
{
	struct exit_code_map *m = NULL;
	size_t count = 0, cap = 0;
	*map = NULL;
	*n = 0;
	if (!s || !*s)
		return 0;
	const char *p = s;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *item = trim_ws(p, &len);
		const char *eq = memchr(item, '=', len);
		int code;
		if (len == 0) {
			err_set(err, "--exit-code-map \"%s\" has an empty entry: write CODE=ErrorName entries "
				"separated by commas, e.g. 3=RetryableError,4=BadInput", s);
			goto fail;
		}
		size_t clen = eq ? (size_t)(eq - item) : 0;
		const char *cstr = trim_ws(item, &clen);
		if (!eq || parse_status(cstr, clen, &code) != 0) {
			err_set(err, "--exit-code-map entry \"%.*s\" is not CODE=ErrorName with CODE from 0 to 255: "
				"write e.g. 3=RetryableError", (int)len, item);
			goto fail;
		}
		size_t nlen = len - (size_t)(eq + 1 - item);
		const char *name = trim_ws(eq + 1, &nlen);
		char *dup = xstrndup(name, nlen);
		struct err e;
		char what[64];
		snprintf(what, sizeof what, "the error name for exit status %d in --exit-code-map", code);
		if (error_name_validate(dup, what, &e) != 0) {
			err_set(err, "%s", e.msg);
			free(dup);
			goto fail;
		}
		for (size_t i = 0; i < count; i++) {
			if (m[i].code == code) {
				err_set(err, "--exit-code-map names exit status %d twice: keep one entry for it", code);
				free(dup);
				goto fail;
			}
		}
		m = array_reserve(m, count, &cap, sizeof *m);
		m[count].code = code;
		m[count].error = dup;
		count++;
		if (!comma)
			break;
		p = comma + 1;
	}
	*map = m;
	*n = count;
	return 0;
fail:
	exit_code_map_free(m, count);
	return -1;
}

int success_codes_parse(const char *s, int **codes, size_t *n, struct err *err)
{
	int *c = NULL;
	size_t count = 0, cap = 0;
	*codes = NULL;
	*n = 0;
	if (!s || !*s)
		return err_set(err, "--success-codes is empty: list the exit statuses that count as success, e.g. 0,143");
	const char *p = s;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *item = trim_ws(p, &len);
		int code;
		if (parse_status(item, len, &code) != 0) {
			err_set(err, "--success-codes entry \"%.*s\" is not an exit status from 0 to 255: "
				"write e.g. 0,143", (int)len, item);
			free(c);
			return -1;
		}
		bool dup = false;
		for (size_t i = 0; i < count; i++)
			dup = dup || c[i] == code;
		if (!dup) {
			c = array_reserve(c, count, &cap, sizeof *c);
			c[count++] = code;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	*codes = c;
	*n = count;
	return 0;
}

/* The escaped size of s as a JSON string, quotes excluded. */
static size_t escaped_len(const char *s, size_t n)
{
	size_t total = 0, used;
	for (size_t i = 0; i < n; i += used)
		total += json_escaped_char_len(s + i, n - i, &used);
	return total;
}

/* Keeps the front of s within max escaped bytes (for our own message and
 * the task ARN, which are never legitimately long). */
static struct span cut_back(struct span s, size_t max)
{
	size_t total = 0, used, i = 0;
	while (i < s.len) {
		size_t l = json_escaped_char_len(s.ptr + i, s.len - i, &used);
		if (total + l > max)
			break;
		total += l;
		i += used;
	}
	return span_of(s.ptr, i);
}

#define CAUSE_MESSAGE_MAX 2048
#define CAUSE_ARN_MAX 2048

void cause_build(struct buf *out, int exit_code, int term_signal, double duration_s, const char *message,
		 struct span stderr_tail, const char *task_arn)
{
	struct buf head = BUF_INIT, foot = BUF_INIT;
	buf_reset(out);
	if (exit_code >= 0)
		buf_printf(&head, "{\"exitCode\":%d,", exit_code);
	else
		buf_puts(&head, "{\"exitCode\":null,");
	if (term_signal > 0) {
		const char *name = signal_name(term_signal);
		char num[32];
		if (!name) {
			snprintf(num, sizeof num, "SIG%d", term_signal);
			name = num;
		}
		buf_puts(&head, "\"signal\":");
		json_append_string(&head, span_str(name));
		buf_putc(&head, ',');
	} else {
		buf_puts(&head, "\"signal\":null,");
	}
	if (!(duration_s >= 0) || duration_s > 1e12) /* also NaN */
		duration_s = 0;
	buf_printf(&head, "\"durationSeconds\":%.2f,\"message\":", duration_s);
	json_append_string(&head, cut_back(span_str(message ? message : ""), CAUSE_MESSAGE_MAX));
	buf_puts(&head, ",\"stderrTail\":\"");

	buf_putc(&foot, '"');
	if (task_arn && *task_arn) {
		buf_puts(&foot, ",\"taskArn\":");
		json_append_string(&foot, cut_back(span_str(task_arn), CAUSE_ARN_MAX));
	}
	buf_putc(&foot, '}');

	/* Drop characters from the front of stderr, whole ones, until it fits. */
	size_t budget = CAUSE_MAX_BYTES - head.len - foot.len;
	struct span t = stderr_tail;
	size_t need = escaped_len(t.ptr, t.len), used;
	while (need > budget && t.len > 0) {
		need -= json_escaped_char_len(t.ptr, t.len, &used);
		t.ptr += used;
		t.len -= used;
	}
	buf_append(out, head.data, head.len);
	/* json_append_string adds quotes; we wrote the opening one already. */
	struct buf s = BUF_INIT;
	json_append_string(&s, t);
	buf_append(out, s.data + 1, s.len - 2);
	buf_append(out, foot.data, foot.len);
	buf_free(&s);
	buf_free(&head);
	buf_free(&foot);
}

void report_free(struct report *r)
{
	buf_free(&r->output);
	buf_free(&r->cause);
}

static bool is_success(const struct command_result *res, const struct result_policy *pol)
{
	if (!res->started || res->term_signal != 0 || res->exit_code < 0)
		return false;
	if (!pol->success_codes || pol->n_success == 0)
		return res->exit_code == 0;
	for (size_t i = 0; i < pol->n_success; i++)
		if (pol->success_codes[i] == res->exit_code)
			return true;
	return false;
}

/* "command exited with status 3" / "command was killed by SIGKILL". */
static void describe_end(struct buf *m, const struct command_result *res)
{
	if (res->term_signal > 0) {
		const char *name = signal_name(res->term_signal);
		if (name)
			buf_printf(m, "command was killed by %s", name);
		else
			buf_printf(m, "command was killed by signal %d", res->term_signal);
	} else {
		buf_printf(m, "command exited with status %d", res->exit_code);
	}
}

static void set_error(struct report *out, const char *name)
{
	snprintf(out->error, sizeof out->error, "%s", name);
}

void result_decide(const struct command_result *res, const struct result_policy *pol, struct report *out)
{
	struct buf msg = BUF_INIT;
	const char *command = res->command ? res->command : "";
	memset(out, 0, sizeof *out);

	if (!res->started) {
		int e = res->exec_errno;
		const char *interp = res->missing_interpreter;
		set_error(out, SFN_ERR_EXEC_FAILED);
		if (e == ENOENT && interp && *interp) {
			/* Shown escaped: a \r from Windows line endings is the usual
			 * culprit and invisible otherwise. */
			char *shown = term_escape_str(interp);
			buf_printf(&msg, "cannot execute %s: its interpreter \"%s\" (from its #! line) does not exist",
				   command, shown);
			if (strchr(interp, '\r'))
				buf_puts(&msg, ": the script has Windows line endings; convert it with dos2unix or "
					       "sed -i 's/\\r$//'");
			free(shown);
		} else if (e == ENOENT && interp) {
			buf_printf(&msg, "cannot execute %s: it exists, but its program interpreter (dynamic loader) "
				   "does not: install the C library it was built for, or build it static", command);
		} else if (e == ENOENT)
			buf_printf(&msg, "command not found: %s", command);
		else if (e == EACCES)
			buf_printf(&msg, "command is not executable: %s (%s)", command, strerror(e));
		else
			buf_printf(&msg, "cannot execute %s: %s", command, strerror(e));
		/* 126 for a missing interpreter, as bash says "bad interpreter". */
		out->exit_status = e == ENOENT && !interp ? 127 : 126;
		goto failure;
	}
	out->exit_status = res->term_signal > 0 ? 128 + res->term_signal : res->exit_code;

	if (is_success(res, pol)) {
		struct err e = { { 0 } };
		if (output_select(pol->output_mode, &res->output_file, &res->stdout_tail, &out->output, &e) ==
		    OUTPUT_VALID) {
			out->success = true;
			describe_end(&msg, res); /* for the log: never an empty line */
			goto out;
		}
		buf_reset(&out->output);
		set_error(out, SFN_ERR_OUTPUT_INVALID);
		buf_puts(&msg, e.msg);
		if (res->exit_code == 0)
			out->exit_status = 1;
		goto failure;
	}

	if (res->stop == STOP_TIMEOUT) {
		set_error(out, SFN_ERR_SCRIPT_TIMED_OUT);
		long long secs = (res->timeout_ms + 999) / 1000;
		if (res->term_signal == SIGTERM)
			buf_printf(&msg, "command timed out after %lld s and was terminated", secs);
		else if (res->term_signal == SIGKILL)
			buf_printf(&msg, "command timed out after %lld s and was killed with SIGKILL after the grace "
				   "period", secs);
		else {
			buf_printf(&msg, "command timed out after %lld s and was terminated; ", secs);
			describe_end(&msg, res);
		}
	} else if (res->stop == STOP_SIGNAL) {
		const char *sig = signal_name(res->stop_signal);
		set_error(out, SFN_ERR_CONTAINER_STOPPED);
		buf_printf(&msg, "the agent received %s; ", sig ? sig : "a stop signal");
		describe_end(&msg, res);
	} else {
		const char *name = pol->error_name && *pol->error_name ? pol->error_name : SFN_ERR_SCRIPT_FAILED;
		if (res->term_signal == 0) {
			for (size_t i = 0; i < pol->n_map; i++)
				if (pol->map[i].code == res->exit_code)
					name = pol->map[i].error;
		}
		set_error(out, name);
		if (res->stop == STOP_TOKEN_LOST)
			buf_puts(&msg, "the task token is no longer valid, so the agent stopped the command; ");
		describe_end(&msg, res);
	}

failure: {
	struct span tail = tail_span(&res->stderr_tail);
	/* A tail cut mid-character would start with a stray continuation byte
	 * or three: drop them rather than show U+FFFD for them. */
	if (tail_truncated(&res->stderr_tail))
		for (int k = 0; k < 3 && tail.len && ((unsigned char)tail.ptr[0] & 0xC0) == 0x80; k++)
			tail.ptr++, tail.len--;
	int exit_code = res->started && res->term_signal == 0 ? res->exit_code : -1;
	cause_build(&out->cause, exit_code, res->started ? res->term_signal : 0, res->duration_s,
		    buf_cstr(&msg), tail, pol->task_arn);
}
out:
	snprintf(out->message, sizeof out->message, "%s", buf_cstr(&msg));
	buf_free(&msg);
}

void result_agent_failed(const char *why, const struct result_policy *pol, struct report *out)
{
	memset(out, 0, sizeof *out);
	set_error(out, SFN_ERR_EXEC_FAILED);
	snprintf(out->message, sizeof out->message, "the command could not be started: %s", why);
	out->exit_status = 125;
	cause_build(&out->cause, -1, 0, 0, out->message, span_of("", 0), pol->task_arn);
}
