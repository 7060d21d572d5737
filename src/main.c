/* sfn-agent: run a command for an AWS Step Functions task and report its
 * result, or control waitForTaskToken workflows.  See README.md. */
#include "src/commands.h"
#include "src/opts.h"
#include "base/log.h"
#include "base/sys.h"

#include <stdio.h>
#include <string.h>

struct command {
	const char *name;
	int (*handler)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "run", cmd_run, "run a command and report its result (the default)" },
	{ "send-success", cmd_send_success, "report success for a task token" },
	{ "send-failure", cmd_send_failure, "report failure for a task token" },
	{ "send-heartbeat", cmd_send_heartbeat, "send a heartbeat for a task token" },
	{ "start", cmd_start, "start a state machine execution and wait for it" },
	{ "check", cmd_check, "find the mistakes that make waitForTaskToken workflows hang" },
	{ "template", cmd_template, "print a state machine for this pattern" },
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* As tini and dumb-init do: what the ENTRYPOINT is, first; the subcommands
 * after it. */
static void usage(FILE *f)
{
	run_usage(f, true);
	fprintf(f, "\n   or: sfn-agent SUBCOMMAND [OPTIONS]\n\nsubcommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-15s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'sfn-agent help COMMAND' (or 'sfn-agent COMMAND --help') describes each;\n"
		   "'sfn-agent -V' prints the version.\n");
}

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

/* `sfn-agent help [COMMAND]`: the same text as --help / COMMAND --help. */
static int help(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	const struct command *c = find(argv[1]);
	if (!c) {
		fprintf(stderr, "sfn-agent: error: no command \"%s\": use one of", argv[1]);
		for (size_t i = 0; i < N_COMMANDS; i++)
			fprintf(stderr, "%s %s", i ? "," : "", commands[i].name);
		fputc('\n', stderr);
		return 2;
	}
	char *args[] = { argv[1], "--help", NULL };
	return c->handler(2, args);
}

int main(int argc, char **argv)
{
	log_setup_early(&sys_real);
	if (argc >= 2) {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
			print_version(stdout);
			return 0;
		}
		if (strcmp(argv[1], "help") == 0)
			return help(argc - 1, argv + 1);
		const struct command *c = find(argv[1]);
		if (c)
			return c->handler(argc - 1, argv + 1);
	}
	/* Anything else is the run mode's: options or the command itself. */
	return cmd_run(argc, argv);
}
