/* Run-mode options: flags, each with an environment variable (the flag
 * wins), checked before anything runs. */
#ifndef SFN_OPTS_H
#define SFN_OPTS_H

#include "wrapper/output.h"
#include "wrapper/result.h"
#include "wrapper/supervise.h"
#include "base/err.h"
#include "base/log.h"
#include "base/sys.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

enum token_lost_mode { LOST_TERMINATE, LOST_CONTINUE };

struct run_options {
	const char *token_env;
	int64_t heartbeat_ms;     /* 0: off */
	int64_t timeout_ms;       /* 0: none */
	int64_t grace_ms;
	int64_t report_timeout_ms;
	enum output_mode output;
	const char *error_name;
	struct exit_code_map *map;
	size_t n_map;
	enum token_lost_mode on_token_lost;
	int *success_codes;
	size_t n_success;
	enum signal_target signal_target;
	bool require_token;
	enum log_level log_level;
	enum log_format log_format;
	char **command; /* NULL-terminated, borrowed from argv */
};

enum opts_status { OPTS_RUN = 0, OPTS_EXIT = 1, OPTS_ERROR = -1 };

/* Parses argv (argv[0] is "run" or the program name).  OPTS_EXIT when
 * --help or --version was printed. */
enum opts_status run_options_parse(int argc, char **argv, const struct sys *sys, struct run_options *o,
				   struct err *err);
void run_options_free(struct run_options *o);

/* The run mode's help; common_only: the options most tasks set, for
 * `sfn-agent --help`. */
void run_usage(FILE *f, bool common_only);
/* "sfn-agent VERSION (ARCH; OpenSSL x, libcurl y, cJSON z)", for -V. */
void print_version(FILE *f);

#endif
