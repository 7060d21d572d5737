/* Text from a server (an execution's error and cause, a task's stop reason,
 * a log line) made safe to print on a terminal or into a CI log.
 *
 * Anyone who can set a cause can put escape sequences in it; printed raw, a
 * terminal would run them (clear the screen, set the title, write the
 * clipboard with OSC 52).  Control characters become visible escapes
 * instead: C0 and DEL as \n, \t, \r, \e or \xNN; C1 (U+0080..U+009F) and the
 * line and paragraph separators U+2028/U+2029 as \uXXXX; bytes that are not
 * UTF-8 as \xNN.  Everything else, backslashes included, is copied as it
 * is: a cause is often JSON, and "\n" inside it must stay two characters a
 * reader can paste into jq, not become "\\n". */
#ifndef SFN_TERM_H
#define SFN_TERM_H

#include "base/buf.h"

#include <stddef.h>

void term_escape(struct buf *out, const char *s, size_t n);
/* The same into a new NUL-terminated string (malloc'd); s may be NULL ("" then). */
char *term_escape_str(const char *s);

#endif
