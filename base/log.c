#include "base/log.h"

#include "base/buf.h"
#include "base/json.h"
#include "base/posix.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level max_level = LOG_INFO;
static enum log_format format = LOG_TEXT;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_setup(enum log_level level, enum log_format fmt)
{
	max_level = level;
	format = fmt;
}

bool log_enabled(enum log_level level)
{
	return level <= max_level;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

int log_format_parse(const char *s)
{
	if (strcmp(s, "text") == 0)
		return LOG_TEXT;
	if (strcmp(s, "json") == 0)
		return LOG_JSON;
	return -1;
}

/* One write(2) per line, so lines from the agent and from the command's
 * stderr (which the agent relays) never interleave mid-line. */
static void emit(struct buf *line)
{
	buf_putc(line, '\n');
	/* Nowhere left to say that stderr is gone. */
	(void)write_all(STDERR_FILENO, line->data, line->len);
}

static void begin(struct buf *line, enum log_level level)
{
	if (format == LOG_TEXT) {
		buf_puts(line, "sfn-agent: ");
		if (level <= LOG_WARN)
			buf_printf(line, "%s: ", level_names[level]);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	buf_printf(line, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"source\":\"sfn-agent\",", stamp,
		   ts.tv_nsec / 1000000, level_names[level]);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	struct buf line = BUF_INIT, msg = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	begin(&line, level);
	if (format == LOG_TEXT) {
		/* One message, one line: text quoted from a server or a file (an
		 * error message with a newline, a terminal escape) must not forge
		 * lines of its own. */
		for (size_t i = 0; i < msg.len; i++) {
			unsigned char c = (unsigned char)msg.data[i];
			buf_putc(&line, (c < 0x20 && c != '\t') || c == 0x7f ? ' ' : (char)c);
		}
	} else {
		buf_puts(&line, "\"msg\":");
		json_append_string(&line, span_of(buf_cstr(&msg), msg.len));
		buf_putc(&line, '}');
	}
	emit(&line);
	buf_free(&line);
	buf_free(&msg);
}

void log_raw_json(enum log_level level, const char *what, const char *json)
{
	if (!log_enabled(level))
		return;
	struct buf line = BUF_INIT;
	begin(&line, level);
	if (format == LOG_TEXT) {
		buf_printf(&line, "%s: %s", what, json);
	} else {
		buf_puts(&line, "\"msg\":");
		json_append_string(&line, span_str(what));
		buf_printf(&line, ",\"report\":%s}", json);
	}
	emit(&line);
	buf_free(&line);
}

void log_redact(struct buf *text, const char *secret, const char *mark)
{
	size_t slen = secret ? strlen(secret) : 0;
	if (slen < 8 || text->len == 0)
		return;
	size_t piece = slen < LOG_REDACT_PIECE ? slen : LOG_REDACT_PIECE;
	struct buf out = BUF_INIT;
	bool changed = false;
	for (size_t i = 0; i < text->len;) {
		size_t n = 0;
		if (text->len - i >= piece && memmem(secret, slen, text->data + i, piece)) {
			/* The longest piece of the secret that starts here. */
			n = piece;
			while (i + n < text->len && memmem(secret, slen, text->data + i, n + 1))
				n++;
		}
		if (n) {
			buf_puts(&out, mark);
			i += n;
			changed = true;
		} else {
			buf_putc(&out, text->data[i++]);
		}
	}
	if (changed) {
		buf_reset(text);
		buf_append(text, out.data, out.len);
	}
	buf_free(&out);
}
