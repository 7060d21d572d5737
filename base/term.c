/* Escaping server text for the terminal: see term.h for the rules. */
#include "base/term.h"

#include <string.h>

/* The length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes
 * there are not one (stray continuation, overlong, surrogate, > U+10FFFF,
 * cut short); *cp gets the code point. */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned long *cp)
{
	unsigned char c = s[0];
	size_t len;
	unsigned long v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, v = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, v = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, v = c & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

void term_escape(struct buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned long cp;
		size_t len = utf8_seq(p + i, n - i, &cp);

		if (len == 0) {
			buf_printf(out, "\\x%02x", p[i]);
			i++;
			continue;
		}
		if (cp == '\n')
			buf_puts(out, "\\n");
		else if (cp == '\t')
			buf_puts(out, "\\t");
		else if (cp == '\r')
			buf_puts(out, "\\r");
		else if (cp == 0x1b)
			buf_puts(out, "\\e");
		else if (cp < 0x20 || cp == 0x7f)
			buf_printf(out, "\\x%02lx", cp);
		else if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029)
			buf_printf(out, "\\u%04lx", cp);
		else
			buf_append(out, p + i, len);
		i += len;
	}
}

char *term_escape_str(const char *s)
{
	struct buf b = BUF_INIT;

	if (s)
		term_escape(&b, s, strlen(s));
	buf_puts(&b, "");
	return buf_steal(&b);
}
