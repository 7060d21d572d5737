/* Run-mode options (src/opts.c: run_options_parse) from a made-up
 * environment and command line.  Input: "VAR=value" lines, an empty line,
 * then one argument per line.  getopt's globals are reset by the parser
 * itself (optind = 0), which is what lets one process parse many times. */
#include "fuzz.h"

#include "src/opts.h"

#define MAX_ENV 32
#define MAX_ARGS 64

static char *env[MAX_ENV][2];
static int n_env;

static const char *fake_getenv(const char *name)
{
	for (int i = n_env - 1; i >= 0; i--)
		if (strcmp(env[i][0], name) == 0)
			return env[i][1];
	return NULL;
}

static int64_t zero_ms(void)
{
	return 0;
}

static uint32_t four(void)
{
	return 4;
}

static void no_sleep(int64_t ms)
{
	(void)ms;
}

static const struct sys fake_sys = { fake_getenv, zero_ms, zero_ms, four, no_sleep };

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	/* --help and --version print; keep libFuzzer's own output readable. */
	if (!freopen("/dev/null", "w", stdout))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	char *line = text, *nl;
	bool in_env = true;
	n_env = 0;
	argv[argc++] = "run";
	for (; line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (in_env) {
			char *eq = strchr(line, '=');
			if (!*line || !eq) {
				in_env = false;
				continue;
			}
			*eq = '\0';
			if (n_env < MAX_ENV) {
				env[n_env][0] = line;
				env[n_env][1] = eq + 1;
				n_env++;
			}
			continue;
		}
		if (argc < MAX_ARGS)
			argv[argc++] = line;
	}
	argv[argc] = NULL;
	char **copy = xmalloc(sizeof argv); /* the parser may permute nothing ('+'), but check */
	memcpy(copy, argv, sizeof argv);

	struct run_options o;
	struct err err = { "" };
	enum opts_status st = run_options_parse(argc, argv, &fake_sys, &o, &err);
	switch (st) {
	case OPTS_RUN:
		FUZZ_CHECK(o.command && o.command[0]);
		FUZZ_CHECK(o.command > argv && o.command < argv + argc);
		FUZZ_CHECK(o.heartbeat_ms >= 0 && o.timeout_ms >= 0 && o.grace_ms >= 0);
		FUZZ_CHECK(o.report_timeout_ms >= 0);
		FUZZ_CHECK(o.success_codes && o.n_success >= 1);
		FUZZ_CHECK(o.token_env && o.error_name);
		for (int i = 0; i < argc; i++)
			FUZZ_CHECK(argv[i] == copy[i]);
		break;
	case OPTS_EXIT:
		break;
	case OPTS_ERROR:
		FUZZ_CHECK(err.msg[0] != '\0');
		FUZZ_CHECK(!o.map && !o.success_codes);
		break;
	default:
		FUZZ_CHECK(!"unknown status");
	}
	/* What the run mode does after every outcome. */
	run_options_free(&o);
	free(copy);
	free(text);
	return 0;
}
