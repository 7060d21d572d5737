/* The small INI dialect of the AWS shared files (~/.aws/credentials,
 * ~/.aws/config), parsed the way the SDKs read them: `[section]` headers,
 * `key = value` lines (the value may itself contain `=`), `#` and `;`
 * comment lines, CRLF line ends, and indented continuation lines (nested
 * settings such as `s3 =` blocks), which never match a top-level key.
 *
 * Borrowed text in, nothing kept: it is fuzzed as it stands. */
#ifndef SFN_INI_H
#define SFN_INI_H

#include "base/buf.h"

/* The value of key (case-insensitive, like the SDKs) in section (exact, runs
 * of blanks in the header count as one space: "profile  x" is "profile x").
 * When a key appears more than once, the last one wins.  Returns 1 with out
 * replaced by the value (trimmed, an inline " #" or " ;" comment removed), or
 * 0 when absent (out untouched). */
int ini_lookup(struct span text, const char *section, const char *key, struct buf *out);

/* 1 when a `[section]` header is present, else 0. */
int ini_has_section(struct span text, const char *section);

#endif
