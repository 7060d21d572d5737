#include "base/log.h"

#include "base/buf.h"
#include "base/json.h"
#include "base/posix.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
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
	/* Known from the start, so that no line (a command's output quoted at
	 * debug level, with or without a task token) prints them. */
	log_secret(LOG_SECRET_ENV_KEY, sys_env(sys, "AWS_SECRET_ACCESS_KEY"), "[secret key]");
	log_secret(LOG_SECRET_ENV_SESSION, sys_env(sys, "AWS_SESSION_TOKEN"), "[session token]");
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
	log_redact_known(&msg);
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
	log_redact_known(&line);
	emit(&line);
	buf_free(&line);
}

/* Redaction in one pass over the text: every LOG_REDACT_PIECE-byte piece of
 * every secret sits in an open-addressing set, keyed by a hash of its bytes
 * folded to lower case, so each position of the text costs one hash and a
 * short probe instead of a search through each secret (memmem was O(text x
 * secret)).  tests/bench/redact.c measures it.  Matching
 * ignores ASCII case: a token is case-sensitive, but a lower-cased copy
 * still carries most of its entropy, and 16 random characters that match
 * by chance in another case do not occur in practice. */
struct redact_secret {
	const char *s;
	size_t len;
	const char *mark;
};

struct redactor {
	struct redact_secret sec[LOG_SECRET_SLOTS];
	size_t nsec;
	size_t piece;    /* the shortest piece length: LOG_REDACT_PIECE, or a shorter secret's length */
	uint32_t *slots; /* 0 empty, else 1 + (secret index << 16 | offset) */
	size_t cap;      /* a power of two, at least twice the pieces */
};

static unsigned char fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* A polynomial hash, so that the next position's is the last one's rolled
 * by one byte (redactor_apply); unsigned arithmetic wraps mod 2^32. */
#define HASH_BASE 16777619u

static uint32_t piece_hash(const char *p, size_t n)
{
	uint32_t h = 0;
	for (size_t i = 0; i < n; i++)
		h = h * HASH_BASE + fold((unsigned char)p[i]);
	return h;
}

/* The hash's final mixing, for the table index: the low bits of the
 * polynomial depend mostly on the last bytes. */
static size_t slot_of(uint32_t h, size_t cap)
{
	h ^= h >> 16;
	h *= 0x45d9f3bu;
	h ^= h >> 16;
	return h & (cap - 1);
}

static bool same_folded(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fold((unsigned char)a[i]) != fold((unsigned char)b[i]))
			return false;
	return true;
}

static void redactor_free(struct redactor *r)
{
	free(r->slots);
	memset(r, 0, sizeof *r);
}

/* Secrets longer than 65,535 bytes are cut there: no token is that long. */
static void redactor_add(struct redactor *r, const char *secret, const char *mark)
{
	size_t slen = secret ? strlen(secret) : 0;
	if (slen < 8 || r->nsec == LOG_SECRET_SLOTS)
		return;
	if (slen > 0xffff)
		slen = 0xffff;
	r->sec[r->nsec++] = (struct redact_secret){ secret, slen, mark };
}

/* Builds the set once all secrets are added.  Every secret is indexed with
 * the same piece length (the shortest), so one hash per position finds
 * them all. */
static void redactor_build(struct redactor *r)
{
	free(r->slots);
	r->slots = NULL;
	r->piece = LOG_REDACT_PIECE;
	size_t pieces = 0;
	for (size_t k = 0; k < r->nsec; k++)
		if (r->sec[k].len < r->piece)
			r->piece = r->sec[k].len;
	for (size_t k = 0; k < r->nsec; k++)
		pieces += r->sec[k].len - r->piece + 1;
	if (!pieces)
		return;
	r->cap = 64;
	while (r->cap < 2 * pieces)
		r->cap *= 2;
	r->slots = xcalloc(r->cap, sizeof *r->slots);
	for (size_t k = 0; k < r->nsec; k++) {
		const struct redact_secret *sc = &r->sec[k];
		for (size_t off = 0; off + r->piece <= sc->len; off++) {
			size_t at = slot_of(piece_hash(sc->s + off, r->piece), r->cap);
			bool dup = false;
			/* A repeated piece is kept once: "aaaa..." must not make
			 * one long probe chain. */
			for (; r->slots[at]; at = (at + 1) & (r->cap - 1)) {
				uint32_t e = r->slots[at] - 1;
				if (same_folded(r->sec[e >> 16].s + (e & 0xffff), sc->s + off, r->piece)) {
					dup = true;
					break;
				}
			}
			if (!dup)
				r->slots[at] = 1 + (uint32_t)(k << 16 | off);
		}
	}
}

/* The longest run of a secret that starts at text[i], 0 if none; *mark is
 * that secret's mark. */
static size_t redactor_match(const struct redactor *r, const char *text, size_t len, size_t i, uint32_t hash,
			     const char **mark)
{
	size_t best = 0;
	for (size_t at = slot_of(hash, r->cap); r->slots[at]; at = (at + 1) & (r->cap - 1)) {
		uint32_t e = r->slots[at] - 1;
		const struct redact_secret *sc = &r->sec[e >> 16];
		size_t off = e & 0xffff;
		if (!same_folded(sc->s + off, text + i, r->piece))
			continue;
		size_t n = r->piece;
		while (off + n < sc->len && i + n < len && fold((unsigned char)sc->s[off + n]) == fold((unsigned char)text[i + n]))
			n++;
		if (n > best) {
			best = n;
			*mark = sc->mark;
		}
	}
	return best;
}

static void redactor_apply(const struct redactor *r, struct buf *text)
{
	if (!r->slots || text->len < r->piece)
		return;
	struct buf out = BUF_INIT;
	bool changed = false;
	size_t kept = 0; /* text[kept..i) is copied when a match ends it */
	uint32_t top = 1; /* HASH_BASE^(piece-1): the weight of the byte rolled out */
	for (size_t k = 1; k < r->piece; k++)
		top *= HASH_BASE;
	const char *t = text->data;
	uint32_t h = piece_hash(t, r->piece);
	for (size_t i = 0; i + r->piece <= text->len;) {
		const char *mark = NULL;
		size_t n = redactor_match(r, t, text->len, i, h, &mark);
		if (n) {
			buf_append(&out, t + kept, i - kept);
			buf_puts(&out, mark);
			i += n;
			kept = i;
			changed = true;
			if (i + r->piece <= text->len)
				h = piece_hash(t + i, r->piece);
			continue;
		}
		if (i + r->piece < text->len)
			h = (h - fold((unsigned char)t[i]) * top) * HASH_BASE + fold((unsigned char)t[i + r->piece]);
		i++;
	}
	if (changed) {
		buf_append(&out, text->data + kept, text->len - kept);
		buf_reset(text);
		buf_append(text, out.data, out.len);
	}
	buf_free(&out);
}

void log_redact(struct buf *text, const char *secret, const char *mark)
{
	struct redactor r = { 0 };
	redactor_add(&r, secret, mark);
	redactor_build(&r);
	redactor_apply(&r, text);
	redactor_free(&r);
}

/* The secrets every line is redacted of, one copy per slot. */
static char *known[LOG_SECRET_SLOTS];
static char *known_mark[LOG_SECRET_SLOTS];
static struct redactor known_set;

void log_secret(enum log_secret_slot slot, const char *secret, const char *mark)
{
	if ((unsigned)slot >= LOG_SECRET_SLOTS)
		return;
	if (known[slot] && secret && strcmp(known[slot], secret) == 0 && strcmp(known_mark[slot], mark) == 0)
		return; /* the same credentials signing the next request */
	if (known[slot]) /* a secret: zeroed before it is freed, as the credentials are */
		explicit_bzero(known[slot], strlen(known[slot]));
	free(known[slot]);
	free(known_mark[slot]);
	known[slot] = secret && *secret ? xstrdup(secret) : NULL;
	known_mark[slot] = known[slot] ? xstrdup(mark) : NULL;
	redactor_free(&known_set);
	for (int k = 0; k < LOG_SECRET_SLOTS; k++)
		if (known[k])
			redactor_add(&known_set, known[k], known_mark[k]);
	redactor_build(&known_set);
}

void log_redact_known(struct buf *text)
{
	redactor_apply(&known_set, text);
}
