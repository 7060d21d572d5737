/* Small JSON helpers that cJSON does not give us: a strict validator that
 * compacts without re-serialising (numbers and strings stay byte for byte as
 * written), and string escaping that repairs invalid UTF-8. */
#ifndef SFN_JSON_H
#define SFN_JSON_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>

/* Validates in as one RFC 8259 JSON text (any value, surrounded by optional
 * whitespace, valid UTF-8, nesting at most JSON_MAX_DEPTH) and appends it to
 * out with the whitespace between tokens removed.  Returns 0, or -1 with
 * *err_offset set to the offset of the first offending byte (out is then left
 * as it was). */
#define JSON_MAX_DEPTH 512
int json_compact(struct span in, struct buf *out, size_t *err_offset);
/* The same check without output. */
int json_validate(struct span in, size_t *err_offset);

/* Appends s as a JSON string literal (quotes included).  Invalid UTF-8 bytes
 * become U+FFFD; control characters are escaped. */
void json_append_string(struct buf *out, struct span s);

/* The number of bytes json_append_string would add for the UTF-8 sequence or
 * invalid byte that starts at s[0]; *consumed gets the input bytes used. */
size_t json_escaped_char_len(const char *s, size_t n, size_t *consumed);

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when s[0] does not
 * start one (an invalid, overlong, surrogate or truncated sequence). */
size_t utf8_seq_len(const unsigned char *s, size_t n);

#endif
