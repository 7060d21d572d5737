/* sfn-agent check: reads a state machine and lists what would make its
 * waitForTaskToken ECS tasks hang or fail to start. */
#include "src/commands.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "base/term.h"
#include "agent/creds/creds.h"
#include "agent/asl/asl.h"
#include "src/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sfn-agent check --state-machine ARN|NAME [--heartbeat S] [--token-env NAME]\n"
		"                       [--format text|json]\n"
		"\n"
		"Reads the state machine (DescribeStateMachine) and reports, for every\n"
		"ecs:runTask.waitForTaskToken Task in it (Parallel branches and Map states included),\n"
		"what makes such workflows hang or fail: no TimeoutSeconds, no HeartbeatSeconds or one\n"
		"not longer than the agent's heartbeat, no TASK_TOKEN override from $$.Task.Token,\n"
		"Fargate without NetworkConfiguration, nothing retrying ContainerStopped, nothing\n"
		"catching the agent's errors, ErrorEquals names that cannot match (case, \"Ecs.\"),\n"
		"overrides that leave too little of RunTask's 8,192 characters with a 2,048-character\n"
		"token.  ecs:runTask.sync Tasks are reported with what the agent does there and how\n"
		"to move them to waitForTaskToken.  Each finding says what to add.\n"
		"\n"
		"  --state-machine ARN   the state machine to read: its ARN, or its name in the account\n"
		"                        and region of the credentials (ListStateMachines) [required]\n"
		"  --heartbeat S         the agent's --heartbeat in the task; 0: off [60]\n"
		"  --token-env NAME      the agent's --token-env in the task [TASK_TOKEN]\n"
		"  --profile NAME        the AWS profile for credentials and region; the keys in\n"
		"                        AWS_ACCESS_KEY_ID are then not used [none]\n"
		"  --format FMT          text (one finding a line) or json (one object on stdout:\n"
		"                        stateMachineArn, tasks, syncTasks, findings [{state, problem,\n"
		"                        text}], for CI) [text]\n"
		"  --log-level LEVEL     error, warn, info or debug (SFN_AGENT_LOG_LEVEL) [info]\n"
		"  --log-format FMT      text or json (SFN_AGENT_LOG_FORMAT) [text]\n"
		"  -h, --help            this text\n"
		"\n"
		"Exit status: 0 no findings, 1 findings, 2 usage or API error.\n");
}

static void print_json(const char *sm, const struct asl_report *report)
{
	struct buf out = BUF_INIT;
	buf_puts(&out, "{\"stateMachineArn\":");
	json_append_string(&out, span_str(sm));
	buf_printf(&out, ",\"tasks\":%zu,\"syncTasks\":%zu,\"findings\":[", report->tasks, report->sync_tasks);
	for (size_t i = 0; i < report->n; i++) {
		const struct asl_finding *f = &report->findings[i];
		buf_puts(&out, i ? ",{\"state\":" : "{\"state\":");
		json_append_string(&out, span_str(f->state));
		buf_puts(&out, ",\"problem\":");
		json_append_string(&out, span_str(asl_problem_name(f->problem)));
		buf_puts(&out, ",\"text\":");
		json_append_string(&out, span_str(f->text));
		buf_putc(&out, '}');
	}
	buf_puts(&out, "]}\n");
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
}

int cmd_check(int argc, char **argv)
{
	enum { O_SM = 256, O_HB, O_TOKEN_ENV, O_LOG_LEVEL, O_LOG_FORMAT, O_PROFILE, O_FORMAT };
	static const struct option longopts[] = {
		{ "state-machine", required_argument, NULL, O_SM },
		{ "heartbeat", required_argument, NULL, O_HB },
		{ "token-env", required_argument, NULL, O_TOKEN_ENV },
		{ "log-level", required_argument, NULL, O_LOG_LEVEL },
		{ "log-format", required_argument, NULL, O_LOG_FORMAT },
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct asl_options opt = { ASL_DEFAULT_AGENT_HEARTBEAT, ASL_DEFAULT_TOKEN_ENV };
	const char *sm = NULL;
	bool json_out = false;
	const char *log_level_arg = NULL, *log_format_arg = NULL;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SM: sm = optarg; break;
		case O_TOKEN_ENV:
			if ((rc = ctl_set_agent_token_env("check", optarg, &opt)) != 0)
				return rc;
			break;
		case O_HB:
			if ((rc = ctl_set_agent_heartbeat("check", optarg, &opt)) != 0)
				return rc;
			break;
		case O_LOG_LEVEL: log_level_arg = optarg; break;
		case O_LOG_FORMAT: log_format_arg = optarg; break;
		case O_PROFILE:
			if (!*optarg)
				return ctl_usage_error("check", "--profile is empty: give a profile name");
			creds_use_profile(optarg);
			break;
		case O_FORMAT:
			if (strcmp(optarg, "json") == 0)
				json_out = true;
			else if (strcmp(optarg, "text") != 0)
				return ctl_usage_error("check", "--format %s is not a format: pass --format text or "
						   "--format json", optarg);
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			return ctl_bad_option("check", c, argv, longopts);
		}
	}
	struct err err = { "" };
	if (ctl_log_setup(log_level_arg, log_format_arg, &err) != 0)
		return ctl_usage_error("check", "%s", err.msg);
	if (optind < argc)
		return ctl_usage_error("check", "unexpected argument \"%s\": pass the ARN as --state-machine ARN",
				       argv[optind]);
	if (!sm)
		return ctl_usage_error("check", "no state machine given: pass --state-machine ARN");

	char sm_region[32];
	bool sm_is_name;
	if (ctl_state_machine_arg(sm, sm_region, &sm_is_name, &err) != 0)
		return ctl_usage_error("check", "%s", err.msg);

	struct sfn_client *client = ctl_client_new(sm_region, &err);
	if (!client) {
		log_error("%s", err.msg);
		return CTL_USAGE;
	}
	struct sfn_reply reply = { 0 };
	struct asl_report report = { 0 };
	char *resolved_arn = NULL;
	rc = CTL_USAGE;
	if (sm_is_name) {
		if (ctl_resolve_state_machine(client, sm, sys_real.mono_ms() + 60000, &resolved_arn, &reply, &err) != 0) {
			if (reply.outcome != SFN_OK)
				ctl_report_call("ListStateMachines", &reply);
			else
				log_error("%s", err.msg);
			goto out;
		}
		sm = resolved_arn;
	}
	if (ctl_check_state_machine(client, sm, &opt, sys_real.mono_ms() + 60000, &report, &reply, &err) != 0) {
		if (reply.outcome != SFN_OK)
			ctl_report_call("DescribeStateMachine", &reply);
		else
			log_error("%s", err.msg);
		goto out;
	}
	if (json_out)
		print_json(sm, &report);
	else
		for (size_t i = 0; i < report.n; i++) {
			char *text = term_escape_str(report.findings[i].text); /* quotes state names */
			printf("%s\n", text);
			free(text);
		}
	if (report.n == 0) {
		if (!json_out)
			printf("ok: %zu waitForTaskToken task(s), no findings\n", report.tasks);
		if (report.tasks == 0)
			log_warn("the state machine has no ecs:runTask.waitForTaskToken Task: there was nothing "
				 "to check");
		rc = CTL_OK;
	} else {
		log_info("%zu finding(s) in %zu waitForTaskToken task(s)", report.n, report.tasks);
		rc = CTL_FINDINGS;
	}
	if (fflush(stdout) != 0) {
		log_error("cannot write to standard output: check where it is redirected");
		rc = CTL_USAGE;
	}
out:
	free(resolved_arn);
	asl_report_free(&report);
	sfn_reply_free(&reply);
	sfn_client_free(client);
	return rc;
}
