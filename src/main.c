/* sfn-agent: run a command for an AWS Step Functions task and report its
 * result, or control waitForTaskToken workflows.  See README.md. */
#include "src/commands.h"

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

static void usage(FILE *f)
{
	fprintf(f, "usage: sfn-agent [run] [OPTIONS] [--] COMMAND [ARG...]\n"
		   "       sfn-agent SUBCOMMAND [OPTIONS]\n\nsubcommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-15s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'sfn-agent SUBCOMMAND --help' describes each; 'sfn-agent --version' prints the version.\n");
}

int main(int argc, char **argv)
{
	if (argc >= 2) {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[1], "--version") == 0) {
			printf("sfn-agent %s\n", SFN_AGENT_VERSION);
			return 0;
		}
		for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				return commands[i].handler(argc - 1, argv + 1);
	}
	/* Anything else is the run mode's: options or the command itself. */
	return cmd_run(argc, argv);
}
