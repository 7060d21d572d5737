#include "agent/creds/ini.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

static struct span trim(struct span s)
{
	while (s.len && (blank(s.ptr[0]) || s.ptr[0] == '\r'))
		s.ptr++, s.len--;
	while (s.len && (blank(s.ptr[s.len - 1]) || s.ptr[s.len - 1] == '\r'))
		s.len--;
	return s;
}

/* Compares a header name with want, where a run of blanks on either side
 * stands for one space. */
static bool section_is(struct span name, const char *want)
{
	size_t i = 0;
	const char *w = want;
	while (i < name.len && *w) {
		if (blank(name.ptr[i]) && *w == ' ') {
			while (i < name.len && blank(name.ptr[i]))
				i++;
			while (*w == ' ')
				w++;
			continue;
		}
		if (name.ptr[i] != *w)
			return false;
		i++, w++;
	}
	return i == name.len && *w == '\0';
}

/* One pass over the text: the last value of key in section goes to out, and
 * walk() says whether the section was seen at all. */
struct ini_walk {
	const char *section;
	const char *key; /* NULL: only look for the section */
	struct buf *out;
	int found;
};

static void value_of(struct span v, struct buf *out)
{
	/* An inline comment needs a blank before it: secret keys and URLs may
	 * contain '#' or ';' right after other characters. */
	for (size_t i = 1; i < v.len; i++) {
		if ((v.ptr[i] == '#' || v.ptr[i] == ';') && blank(v.ptr[i - 1])) {
			v.len = i;
			break;
		}
	}
	v = trim(v);
	buf_reset(out);
	buf_append(out, v.ptr, v.len);
}

static int walk(struct span text, struct ini_walk *w)
{
	const char *p = text.ptr, *end = text.ptr + text.len;
	bool in_section = false, seen = false, had_key = false;

	if (end - p >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		struct span raw = span_of(p, (size_t)(eol - p));
		struct span line = trim(raw);
		p = nl ? nl + 1 : end;

		if (line.len == 0 || line.ptr[0] == '#' || line.ptr[0] == ';')
			continue;
		if (line.ptr[0] == '[') {
			const char *close = memchr(line.ptr, ']', line.len);
			if (!close) {
				in_section = false; /* a broken header ends the previous section */
				continue;
			}
			struct span name = trim(span_of(line.ptr + 1, (size_t)(close - line.ptr - 1)));
			in_section = section_is(name, w->section);
			seen |= in_section;
			had_key = false;
			continue;
		}
		if (!in_section)
			continue;
		/* An indented line after a key continues that key's value (nested
		 * settings): it is not a key of the section. */
		if (had_key && raw.len && blank(raw.ptr[0]))
			continue;
		const char *eq = memchr(line.ptr, '=', line.len);
		if (!eq)
			continue;
		had_key = true;
		if (!w->key)
			continue;
		struct span k = trim(span_of(line.ptr, (size_t)(eq - line.ptr)));
		if (k.len != strlen(w->key) || strncasecmp(k.ptr, w->key, k.len) != 0)
			continue;
		value_of(span_of(eq + 1, (size_t)(line.ptr + line.len - eq - 1)), w->out);
		w->found = 1;
	}
	return seen;
}

int ini_lookup(struct span text, const char *section, const char *key, struct buf *out)
{
	struct buf tmp = BUF_INIT;
	struct ini_walk w = {section, key, &tmp, 0};
	walk(text, &w);
	if (w.found) {
		buf_reset(out);
		buf_append(out, tmp.data ? tmp.data : "", tmp.len);
	}
	buf_free(&tmp);
	return w.found;
}

int ini_has_section(struct span text, const char *section)
{
	struct ini_walk w = {section, NULL, NULL, 0};
	return walk(text, &w);
}
