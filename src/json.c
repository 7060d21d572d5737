#include "json.h"

#include <string.h>

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	if (n == 0)
		return 0;
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned min;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	unsigned cp = c & (0x7F >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

size_t json_escaped_char_len(const char *s, size_t n, size_t *consumed)
{
	unsigned char c = (unsigned char)s[0];
	size_t len = utf8_seq_len((const unsigned char *)s, n);
	if (len == 0) {
		*consumed = 1;
		return 3; /* U+FFFD in UTF-8 */
	}
	*consumed = len;
	if (len > 1)
		return len;
	if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f')
		return 2;
	if (c < 0x20 || c == 0x7F)
		return 6;
	return 1;
}

void json_append_string(struct buf *out, struct span s)
{
	static const char hex[] = "0123456789abcdef";
	buf_putc(out, '"');
	size_t i = 0;
	while (i < s.len) {
		unsigned char c = (unsigned char)s.ptr[i];
		size_t len = utf8_seq_len((const unsigned char *)s.ptr + i, s.len - i);
		if (len == 0) {
			buf_append(out, "\xEF\xBF\xBD", 3);
			i++;
			continue;
		}
		if (len > 1) {
			buf_append(out, s.ptr + i, len);
			i += len;
			continue;
		}
		i++;
		switch (c) {
		case '"': buf_append(out, "\\\"", 2); break;
		case '\\': buf_append(out, "\\\\", 2); break;
		case '\n': buf_append(out, "\\n", 2); break;
		case '\r': buf_append(out, "\\r", 2); break;
		case '\t': buf_append(out, "\\t", 2); break;
		case '\b': buf_append(out, "\\b", 2); break;
		case '\f': buf_append(out, "\\f", 2); break;
		default:
			if (c < 0x20 || c == 0x7F) {
				char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
				buf_append(out, u, 6);
			} else {
				buf_putc(out, (char)c);
			}
		}
	}
	buf_putc(out, '"');
}

/* json_compact: see wrapper's output rules; implemented below. */
