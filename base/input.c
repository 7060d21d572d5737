#include "base/input.h"

#include "base/json.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int error_name_validate(const char *name, const char *what, struct err *err)
{
	size_t len = strlen(name), chars = 0;
	if (len == 0)
		return err_set(err, "%s is empty: give an error name of 1 to %d characters", what, ERROR_NAME_MAX);
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)name[i];
		size_t n = utf8_seq_len((const unsigned char *)name + i, len - i);
		if (n == 0)
			return err_set(err, "%s is not valid UTF-8 (byte %zu): give a plain error name", what, i);
		if (c < 0x20 || c == 0x7F)
			return err_set(err, "%s contains a control character (byte %zu): give a plain error name",
				       what, i);
		i += n;
		chars++;
	}
	if (chars > ERROR_NAME_MAX)
		return err_set(err, "%s is %zu characters long, more than the %d Step Functions accepts: "
			       "give a shorter error name", what, chars, ERROR_NAME_MAX);
	return 0;
}

int64_t seconds_parse(const char *s)
{
	/* Only plain decimals: strtod alone would also take hex, "inf", "1e3"
	 * and leading blanks. */
	if (!s || !*s)
		return -1;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p) && *p != '.')
			return -1;
	char *end;
	double v = strtod(s, &end);
	if (*end != '\0' || v < 0 || v > 1e9)
		return -1;
	return (int64_t)(v * 1000.0 + 0.5);
}
