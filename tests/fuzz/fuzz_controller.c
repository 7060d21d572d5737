/* What the controller reads from Step Functions and from its user:
 * GetExecutionHistory pages (ctl_history_scan), TaskSubmitted outputs
 * (ctl_task_arn_in), ARNs (arn_parse, arn_parse_state_machine), execution
 * names, and the Host and path of endpoint URLs (agent/endpoint.c).
 * Input: selector byte, then the text. */
#include "fuzz.h"

#include "agent/arn.h"
#include "src/cli.h"
#include "agent/endpoint.h"

static bool has_nul_terminator(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void check_arn(const char *s)
{
	struct arn a;
	struct err err = { "" };
	if (arn_parse(s, &a, &err) == 0) {
		FUZZ_CHECK(has_nul_terminator(a.partition, sizeof a.partition));
		FUZZ_CHECK(has_nul_terminator(a.service, sizeof a.service) && a.service[0]);
		FUZZ_CHECK(has_nul_terminator(a.region, sizeof a.region));
		FUZZ_CHECK(has_nul_terminator(a.account, sizeof a.account));
		FUZZ_CHECK(has_nul_terminator(a.resource, sizeof a.resource) && a.resource[0]);
		FUZZ_CHECK(strncmp(s, "arn:", 4) == 0);
		/* The resource is the tail of the text, as written. */
		size_t rl = strlen(a.resource), sl = strlen(s);
		FUZZ_CHECK(rl <= sl && strcmp(s + sl - rl, a.resource) == 0);
	} else {
		FUZZ_CHECK(err.msg[0]);
	}
	err.msg[0] = '\0';
	if (arn_parse_state_machine(s, "--state-machine", &a, &err) == 0) {
		FUZZ_CHECK(strcmp(a.service, "states") == 0 && a.region[0]);
		FUZZ_CHECK(strlen(a.account) == 12);
		FUZZ_CHECK(strncmp(a.resource, "stateMachine:", 13) == 0);
	} else {
		FUZZ_CHECK(err.msg[0]);
	}
}

static void check_endpoint(const char *url)
{
	char host[256];
	memset(host, 'x', sizeof host);
	/* endpoint_resolve refuses these before it asks for the host. */
	if (!strpbrk(url, "?# \t\r\n") && endpoint_host(url, host, sizeof host) == 0) {
		FUZZ_CHECK(has_nul_terminator(host, sizeof host));
		/* (A second '@' stays in the host; curl refuses such a URL anyway.) */
		const char *at = strchr(url, '@');
		bool one_at = !at || !strchr(at + 1, '@');
		for (const char *p = host; *p; p++)
			FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z') && (*p != '@' || !one_at) && *p != '/');
	}
	const char *path = endpoint_path(url);
	FUZZ_CHECK(path != NULL);
	/* A suffix of the URL or a constant: it must at least be a string. */
	(void)strlen(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *s = fuzz_cstr(data + 1, size - 1);
	switch (data[0] % 5) {
	case 0: {
		struct ctl_history h;
		memset(&h, 0x5a, sizeof h);
		if (ctl_history_scan((const char *)data + 1, size - 1, &h) == 0) {
			FUZZ_CHECK(h.n_task_arns == 0 || h.task_arns);
			for (size_t i = 0; i < h.n_task_arns; i++)
				FUZZ_CHECK(h.task_arns[i] && strlen(h.task_arns[i]) > 0);
			ctl_history_free(&h);
		}
		break;
	}
	case 1: {
		char *arn = ctl_task_arn_in(s);
		if (arn) {
			FUZZ_CHECK(strncmp(arn, "arn:", 4) == 0 && strstr(arn, ":task/"));
			free(arn);
		}
		break;
	}
	case 2:
		check_arn(s);
		break;
	case 3: {
		struct err err = { "" };
		if (ctl_execution_name_validate(s, &err) == 0)
			FUZZ_CHECK(strlen(s) >= 1 && strlen(s) <= 80 * 4);
		else
			FUZZ_CHECK(err.msg[0]);
		break;
	}
	case 4:
		check_endpoint(s);
		break;
	}
	free(s);
	return 0;
}
