#include "agent/arn.h"

#include <ctype.h>
#include <string.h>

/* Copies the field that starts at *p and ends at the next colon (or, for the
 * last field, the end of s) and moves *p past it.  -1 when it does not fit or
 * the colon is missing. */
static int take(const char **p, char *dst, size_t size, int last)
{
	const char *end = last ? *p + strlen(*p) : strchr(*p, ':');
	if (!end)
		return -1;
	size_t n = (size_t)(end - *p);
	if (n >= size)
		return -1;
	memcpy(dst, *p, n);
	dst[n] = '\0';
	*p = last ? end : end + 1;
	return 0;
}

int arn_parse(const char *s, struct arn *out, struct err *err)
{
	memset(out, 0, sizeof *out);
	if (!s || strncmp(s, "arn:", 4) != 0)
		return err_set(err, "\"%s\" is not an ARN: it must start with arn:PARTITION:SERVICE:", s ? s : "");
	const char *p = s + 4;
	if (take(&p, out->partition, sizeof out->partition, 0) != 0 ||
	    take(&p, out->service, sizeof out->service, 0) != 0 ||
	    take(&p, out->region, sizeof out->region, 0) != 0 ||
	    take(&p, out->account, sizeof out->account, 0) != 0 ||
	    take(&p, out->resource, sizeof out->resource, 1) != 0 || !out->partition[0] ||
	    !out->service[0] || !out->resource[0])
		return err_set(err, "\"%s\" is not an ARN: use the form arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE",
			       s);
	for (const char *c = s; *c; c++)
		if (!isgraph((unsigned char)*c))
			return err_set(err, "ARN \"%s\" contains a space or a control character: copy it again "
					    "without them", s);
	return 0;
}

int arn_parse_state_machine(const char *s, const char *what, struct arn *out, struct err *err)
{
	static const char form[] = "arn:aws:states:REGION:ACCOUNT:stateMachine:NAME";
	if (arn_parse(s, out, err) != 0)
		return err_set(err, "%s \"%s\" is not a state machine ARN: pass one of the form %s", what,
			       s ? s : "", form);
	if (strcmp(out->service, "states") != 0 || strncmp(out->resource, "stateMachine:", 13) != 0 ||
	    !out->resource[13]) {
		if (strncmp(out->resource, "execution:", 10) == 0)
			return err_set(err, "%s \"%s\" is an execution ARN: pass the state machine's ARN (%s)",
				       what, s, form);
		return err_set(err, "%s \"%s\" is not a state machine ARN: pass one of the form %s", what, s,
			       form);
	}
	if (!out->region[0])
		return err_set(err, "%s \"%s\" has no region: pass the full ARN (%s)", what, s, form);
	size_t n = strlen(out->account);
	int digits = n == 12;
	for (size_t i = 0; digits && i < n; i++)
		digits = isdigit((unsigned char)out->account[i]);
	if (!digits)
		return err_set(err, "%s \"%s\" has no 12-digit account ID: pass the full ARN (%s)", what, s, form);
	return 0;
}
