#include "base/json.h"

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

/* One pass, no recursion: the open containers live in a fixed array, so a
 * hostile "[[[[..." costs JSON_MAX_DEPTH bytes of stack, not a crash.  Tokens
 * are copied as written; only the whitespace between them is dropped.  With
 * out == NULL it only validates (output_trailing_json tries many candidates). */

static bool json_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* s[i] is the opening quote; returns the offset after the closing one, or
 * -1 with *bad at the offending byte. */
static long scan_string(const unsigned char *s, size_t n, size_t i, size_t *bad)
{
	i++;
	while (i < n) {
		unsigned char c = s[i];
		if (c == '"')
			return (long)(i + 1);
		if (c < 0x20)
			break;
		if (c == '\\') {
			if (i + 1 >= n) {
				i = n;
				break;
			}
			unsigned char e = s[i + 1];
			if (e == 'u') {
				for (size_t k = 2; k < 6; k++) {
					if (i + k >= n || !is_hex(s[i + k])) {
						*bad = i + k < n ? i + k : n;
						return -1;
					}
				}
				/* A lone surrogate escape is valid JSON text (RFC 8259
				 * section 8.2 leaves it to the receiver), so it passes. */
				i += 6;
				continue;
			}
			if (!strchr("\"\\/bfnrt", e) || e == '\0') {
				i++;
				break;
			}
			i += 2;
			continue;
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len = utf8_seq_len(s + i, n - i);
		if (len == 0)
			break;
		i += len;
	}
	*bad = i;
	return -1;
}

static long scan_number(const unsigned char *s, size_t n, size_t i, size_t *bad)
{
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else if (i < n && is_digit(s[i])) {
		while (i < n && is_digit(s[i]))
			i++;
	} else {
		goto fail;
	}
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || !is_digit(s[i]))
			goto fail;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !is_digit(s[i]))
			goto fail;
		while (i < n && is_digit(s[i]))
			i++;
	}
	return (long)i;
fail:
	*bad = i;
	return -1;
}

static long scan_literal(const unsigned char *s, size_t n, size_t i, size_t *bad)
{
	static const char *const words[] = { "true", "false", "null" };
	for (size_t w = 0; w < 3; w++) {
		if (s[i] != (unsigned char)words[w][0])
			continue;
		size_t len = strlen(words[w]);
		for (size_t k = 1; k < len; k++) {
			if (i + k >= n || s[i + k] != (unsigned char)words[w][k]) {
				*bad = i + k;
				return -1;
			}
		}
		return (long)(i + len);
	}
	*bad = i;
	return -1;
}

static int json_scan(struct span in, struct buf *out, size_t *err_offset)
{
	const unsigned char *s = (const unsigned char *)in.ptr;
	size_t n = in.len, i = 0, bad = 0;
	size_t out_len0 = out ? out->len : 0;
	char stack[JSON_MAX_DEPTH];
	size_t depth = 0;
	/* What the next token may be. */
	enum { WANT_VALUE, WANT_VALUE_OR_CLOSE, WANT_KEY, WANT_KEY_OR_CLOSE, WANT_COLON, WANT_COMMA_OR_CLOSE } want =
		WANT_VALUE;

	for (;;) {
		while (i < n && json_ws(s[i]))
			i++;
		if (i >= n) {
			bad = n;
			goto fail;
		}
		unsigned char c = s[i];
		long end;
		switch (want) {
		case WANT_VALUE_OR_CLOSE:
		case WANT_KEY_OR_CLOSE:
			if ((want == WANT_VALUE_OR_CLOSE && c == ']') || (want == WANT_KEY_OR_CLOSE && c == '}'))
				goto close;
			if (want == WANT_KEY_OR_CLOSE)
				goto key;
			/* fall through */
		case WANT_VALUE:
			if (c == '{' || c == '[') {
				if (depth >= JSON_MAX_DEPTH) {
					bad = i;
					goto fail;
				}
				stack[depth++] = (char)c;
				if (out)
					buf_putc(out, (char)c);
				i++;
				want = c == '{' ? WANT_KEY_OR_CLOSE : WANT_VALUE_OR_CLOSE;
				continue;
			}
			if (c == '"')
				end = scan_string(s, n, i, &bad);
			else if (c == '-' || is_digit(c))
				end = scan_number(s, n, i, &bad);
			else
				end = scan_literal(s, n, i, &bad);
			if (end < 0)
				goto fail;
			if (out)
				buf_append(out, s + i, (size_t)end - i);
			i = (size_t)end;
			goto after_value;
		case WANT_KEY:
		key:
			if (c != '"') {
				bad = i;
				goto fail;
			}
			end = scan_string(s, n, i, &bad);
			if (end < 0)
				goto fail;
			if (out)
				buf_append(out, s + i, (size_t)end - i);
			i = (size_t)end;
			want = WANT_COLON;
			continue;
		case WANT_COLON:
			if (c != ':') {
				bad = i;
				goto fail;
			}
			if (out)
				buf_putc(out, ':');
			i++;
			want = WANT_VALUE;
			continue;
		case WANT_COMMA_OR_CLOSE:
			if (c == ',') {
				if (out)
					buf_putc(out, ',');
				i++;
				want = stack[depth - 1] == '{' ? WANT_KEY : WANT_VALUE;
				continue;
			}
			if (c == (stack[depth - 1] == '{' ? '}' : ']'))
				goto close;
			bad = i;
			goto fail;
		}
	close:
		if (out)
			buf_putc(out, (char)c);
		depth--;
		i++;
	after_value:
		if (depth == 0)
			break;
		want = WANT_COMMA_OR_CLOSE;
	}
	while (i < n && json_ws(s[i]))
		i++;
	if (i < n) {
		bad = i;
		goto fail;
	}
	return 0;
fail:
	if (out) {
		out->len = out_len0;
		if (out->data)
			out->data[out->len] = '\0';
	}
	if (err_offset)
		*err_offset = bad;
	return -1;
}

int json_compact(struct span in, struct buf *out, size_t *err_offset)
{
	return json_scan(in, out, err_offset);
}

int json_validate(struct span in, size_t *err_offset)
{
	return json_scan(in, NULL, err_offset);
}
