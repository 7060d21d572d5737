/* Logging: one line per message on standard error, "sfn-agent: ..." in text
 * format or one JSON object per line in json format.
 *
 * Never pass a whole task token, a secret key, a session token, a task output
 * or a cause to an info-level message: use token_fingerprint() for tokens and
 * log_debug() for outputs and causes. */
#ifndef SFN_LOG_H
#define SFN_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_TEXT, LOG_JSON };

void log_setup(enum log_level level, enum log_format format);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For the one line printed when no token is set: the report as JSON, under
 * the key "report" in json format, after "would send: " in text format. */
void log_raw_json(enum log_level level, const char *what, const char *json);

/* Parses "error", "warn", "info", "debug" (and "text", "json"); -1 if none. */
int log_level_parse(const char *s);
int log_format_parse(const char *s);

/* Replaces in text every piece of secret of LOG_REDACT_PIECE characters or
 * more (the whole secret, when it is shorter) by mark.  For server messages
 * that quote a token: a message cut short, or a token echoed in parts, must
 * not print a usable part of it.  Secrets shorter than 8 characters are left
 * alone (too short to tell from ordinary text). */
#define LOG_REDACT_PIECE 16
struct buf;
void log_redact(struct buf *text, const char *secret, const char *mark);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
