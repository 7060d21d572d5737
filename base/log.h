/* Logging: one line per message on standard error, "sfn-agent: ..." in text
 * format or one JSON object per line in json format.
 *
 * Never pass a whole task token, a secret key, a session token, a task output
 * or a cause to an info-level message: use token_fingerprint() for tokens and
 * log_debug() for outputs and causes. */
#ifndef SFN_LOG_H
#define SFN_LOG_H

#include "base/err.h"
#include "base/sys.h"

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_TEXT, LOG_JSON };

void log_setup(enum log_level level, enum log_format format);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For the one line printed when no token is set: the report as JSON, under
 * the key "report" in json format, after "would send: " in text format. */
void log_raw_json(enum log_level level, const char *what, const char *json);

/* The log options, parsed here for every subcommand so that a value means
 * the same everywhere.  One value, from the flag ("--log-level") or, with
 * from_env, its variable ("SFN_AGENT_LOG_LEVEL"): 0, or -1 with the one
 * sentence that names where it came from and the values allowed. */
int log_level_option(const char *value, bool from_env, enum log_level *out, struct err *err);
int log_format_option(const char *value, bool from_env, enum log_format *out, struct err *err);
/* Both options as a subcommand takes them: SFN_AGENT_LOG_LEVEL and
 * SFN_AGENT_LOG_FORMAT from sys, then the flags (NULL: not given), which
 * win.  A bad value is refused wherever it comes from.  Fills *level and
 * *fmt (info and text by default); 0 or -1 with err. */
/* Before any flag is read: the variables' level and format, so that a usage
 * error found while reading the flags comes out as the variables ask.  A bad
 * value is ignored here; log_options_resolve refuses it. */
void log_setup_early(const struct sys *sys);
int log_options_resolve(const struct sys *sys, const char *level_flag, const char *format_flag,
			enum log_level *level, enum log_format *format, struct err *err);

/* Replaces in text every piece of secret of LOG_REDACT_PIECE characters or
 * more (the whole secret, when it is shorter) by mark.  For server messages
 * that quote a token: a message cut short, or a token echoed in parts, must
 * not print a usable part of it.  Secrets shorter than 8 characters are left
 * alone (too short to tell from ordinary text). */
#define LOG_REDACT_PIECE 16
struct buf;
void log_redact(struct buf *text, const char *secret, const char *mark);

/* The secrets this process knows, redacted the same way from every line
 * log_msg and log_raw_json write (what the command printed, quoted at debug
 * level, included) and by log_redact_known.  Matching ignores ASCII case and
 * costs one pass over the text, however long the secrets.  Each slot holds
 * one value (a copy): setting it again replaces it, NULL empties it. */
enum log_secret_slot {
	LOG_SECRET_TASK_TOKEN,
	LOG_SECRET_ENV_KEY,     /* AWS_SECRET_ACCESS_KEY */
	LOG_SECRET_ENV_SESSION, /* AWS_SESSION_TOKEN */
	LOG_SECRET_KEY,         /* the credentials that signed the last request */
	LOG_SECRET_SESSION,
	LOG_SECRET_SIGNATURE,   /* the last request's SigV4 signature */
	LOG_SECRET_SLOTS
};
void log_secret(enum log_secret_slot slot, const char *secret, const char *mark);
void log_redact_known(struct buf *text);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
