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

int log_level_option(const char *value, bool from_env, enum log_level *out, struct err *err)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(value, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	if (from_env)
		return err_set(err, "SFN_AGENT_LOG_LEVEL='%s' is not valid: use error, warn, info or debug", value);
	return err_set(err, "--log-level '%s' is not valid: use error, warn, info or debug", value);
}

int log_format_option(const char *value, bool from_env, enum log_format *out, struct err *err)
{
	if (strcmp(value, "text") == 0 || strcmp(value, "json") == 0) {
		*out = value[0] == 't' ? LOG_TEXT : LOG_JSON;
		return 0;
	}
	if (from_env)
		return err_set(err, "SFN_AGENT_LOG_FORMAT='%s' is not valid: use text or json", value);
	return err_set(err, "--log-format '%s' is not valid: use text or json", value);
}

int log_options_resolve(const struct sys *sys, const char *level_flag, const char *format_flag,
			enum log_level *level, enum log_format *fmt, struct err *err)
{
	const char *env_level = sys_env(sys, "SFN_AGENT_LOG_LEVEL");
	const char *env_format = sys_env(sys, "SFN_AGENT_LOG_FORMAT");
	*level = LOG_INFO;
	*fmt = LOG_TEXT;
	if (env_level && log_level_option(env_level, true, level, err) != 0)
		return -1;
	if (env_format && log_format_option(env_format, true, fmt, err) != 0)
		return -1;
	if (level_flag && log_level_option(level_flag, false, level, err) != 0)
		return -1;
	if (format_flag && log_format_option(format_flag, false, fmt, err) != 0)
		return -1;
	return 0;
}

void log_setup_early(const struct sys *sys)
{
	enum log_level level = LOG_INFO;
	enum log_format fmt = LOG_TEXT;
	const char *v;
	if ((v = sys_env(sys, "SFN_AGENT_LOG_LEVEL")))
		(void)log_level_option(v, true, &level, NULL);
	if ((v = sys_env(sys, "SFN_AGENT_LOG_FORMAT")))
		(void)log_format_option(v, true, &fmt, NULL);
	log_setup(level, fmt);
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

/* The code point of the valid UTF-8 sequence of n bytes at p. */
static unsigned code_point(const unsigned char *p, size_t n)
{
	if (n == 2)
		return (p[0] & 0x1fu) << 6 | (p[1] & 0x3fu);
	if (n == 3)
		return (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
	return (p[0] & 0x07u) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3fu);
}

/* What a terminal may act on besides C0 and DEL: the C1 controls (U+009B
 * alone is a CSI for many terminals) and the line and paragraph
 * separators, which some viewers take as line breaks. */
static bool is_c1_or_separator(unsigned cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029;
}

/* One message, one line, nothing a terminal would run: text quoted from a
 * server or a file (an error message with a newline, a terminal escape)
 * must not forge lines of its own or reach the terminal as controls.  C0,
 * DEL, C1 and U+2028/2029 become a space, a byte that is not UTF-8 a '?'
 * (a lone 0x9b is a CSI to a terminal in an 8-bit mode). */
static void buf_append_clean(struct buf *line, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c < 0x80) {
			buf_putc(line, (c < 0x20 && c != '\t') || c == 0x7f ? ' ' : (char)c);
			i++;
			continue;
		}
		size_t k = utf8_seq_len(p + i, n - i);
		if (k == 0) {
			buf_putc(line, '?');
			i++;
		} else if (is_c1_or_separator(code_point(p + i, k))) {
			buf_putc(line, ' ');
			i += k;
		} else {
			buf_append(line, s + i, k);
			i += k;
		}
	}
}

/* A JSON string for the json format: what json_append_string writes, with
 * the C1 controls and U+2028/2029 escaped too, so someone reading the raw
 * lines on a terminal never gets them as bytes the terminal acts on. */
static void append_json_clean(struct buf *line, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = 0;
	struct buf seg = BUF_INIT;
	buf_putc(line, '"');
	for (size_t i = 0; i <= n;) {
		size_t k = i < n && p[i] >= 0x80 ? utf8_seq_len(p + i, n - i) : 0;
		bool special = k > 0 && is_c1_or_separator(code_point(p + i, k));
		if (i == n || special) {
			/* json_append_string escapes the rest; strip its quotes. */
			buf_reset(&seg);
			json_append_string(&seg, span_of(s + start, i - start));
			buf_append(line, seg.data + 1, seg.len - 2);
			if (i == n)
				break;
			buf_printf(line, "\\u%04x", code_point(p + i, k));
			i += k;
			start = i;
			continue;
		}
		i += k ? k : 1;
	}
	buf_putc(line, '"');
	buf_free(&seg);
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
		buf_append_clean(&line, msg.data, msg.len);
	} else {
		buf_puts(&line, "\"msg\":");
		append_json_clean(&line, msg.data, msg.len);
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
