#include "agent/answer.h"

#include <stdio.h>
#include <string.h>

const char *json_str(const cJSON *obj, const char *key)
{
	if (!cJSON_IsObject(obj))
		return NULL;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) && v->valuestring && v->valuestring[0] ? v->valuestring : NULL;
}

const char *json_str_any(const cJSON *obj, const char *const *keys)
{
	for (; *keys; keys++) {
		const char *s = json_str(obj, *keys);
		if (s)
			return s;
	}
	return NULL;
}

static int digit_value(char c, int base)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (base == 16 && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (base == 16 && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool xml_text(struct span body, const char *tag, struct buf *out)
{
	char open[64], close[64];
	buf_reset(out);
	if (!body.ptr || (size_t)snprintf(open, sizeof open, "<%s>", tag) >= sizeof open ||
	    (size_t)snprintf(close, sizeof close, "</%s>", tag) >= sizeof close)
		return false;
	const char *start = memmem(body.ptr, body.len, open, strlen(open));
	if (!start)
		return false;
	start += strlen(open);
	const char *end = memmem(start, (size_t)(body.ptr + body.len - start), close, strlen(close));
	if (!end)
		return false;
	static const struct {
		const char *ent;
		char c;
	} ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
	for (const char *p = start; p < end;) {
		if (*p == '&') {
			size_t i, left = (size_t)(end - p);
			for (i = 0; i < sizeof ents / sizeof ents[0]; i++) {
				size_t n = strlen(ents[i].ent);
				if (left >= n && memcmp(p, ents[i].ent, n) == 0) {
					buf_putc(out, ents[i].c);
					p += n;
					break;
				}
			}
			if (i < sizeof ents / sizeof ents[0])
				continue;
			if (left > 3 && p[1] == '#') {
				/* Numeric references: only ASCII shows up in AWS
				 * messages; others are kept as written. */
				bool hex = p[2] == 'x' || p[2] == 'X';
				const char *q = p + (hex ? 3 : 2);
				long v = 0;
				int nd = 0;
				for (; q < end && nd < 6; q++, nd++) {
					int d = digit_value(*q, hex ? 16 : 10);
					if (d < 0)
						break;
					v = v * (hex ? 16 : 10) + d;
				}
				if (nd && q < end && *q == ';' && v > 0 && v < 0x80) {
					buf_putc(out, (char)v);
					p = q + 1;
					continue;
				}
			}
		}
		buf_putc(out, *p++);
	}
	return true;
}
