/* Checks of user input that both halves share: Step Functions' limits (the
 * wrapper checks what the command produced against them, the agent what a
 * script hands to send-*), error names, and numbers of seconds.  Everything
 * is checked before any call, so nothing is ever half sent. */
#ifndef SFN_INPUT_H
#define SFN_INPUT_H

#include "base/contract.h"
#include "base/err.h"

#include <stdint.h>

/* Checks an error name: 1-256 characters of valid UTF-8, no control
 * characters.  what names it in the sentence ("--error").  0, or -1. */
int error_name_validate(const char *name, const char *what, struct err *err);

/* A number of seconds as a plain decimal ("12", "0.5"; not "1e3", " 5",
 * "0x10", "inf"), at most 1e9, in milliseconds; -1 for anything else.
 * Callers check their own range. */
int64_t seconds_parse(const char *s);

#endif
