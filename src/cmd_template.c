/* sfn-agent template: prints a state machine (or a CloudFormation template
 * around one) that runs an ECS task with the agent and waits for it. */
#include "src/commands.h"
#include "base/log.h"
#include "base/posix.h"
#include "agent/asl/asl.h"
#include "src/cli.h"
#include "agent/asl/template.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sfn-agent template --cluster C --task-definition TD --container NAME\n"
		"                          [--subnets a,b] [--security-groups g] [--launch-type FARGATE|EC2]\n"
		"                          [--heartbeat S] [--timeout S] [--format asl|cloudformation]\n"
		"                          [--assign-public-ip] [--schedule EXPR [--commands JSON]]\n"
		"\n"
		"Prints a state machine that runs CONTAINER of task definition TD on cluster C with\n"
		"ecs:runTask.waitForTaskToken and waits until sfn-agent (its ENTRYPOINT) reports:\n"
		"TASK_TOKEN from $$.Task.Token, $.commands as the container command when the input has\n"
		"it, HeartbeatSeconds, TimeoutSeconds, Retry on ContainerStopped, Catch on the agent's\n"
		"errors, and the network configuration Fargate needs.  `sfn-agent check` finds nothing\n"
		"to fix in it.\n"
		"\n"
		"  --cluster C               ECS cluster name or ARN [required]\n"
		"  --task-definition TD      family, family:revision or ARN [required]\n"
		"  --container NAME          the container whose ENTRYPOINT is sfn-agent [required]\n"
		"  --launch-type T           FARGATE or EC2 [FARGATE]\n"
		"  --subnets a,b             subnets for awsvpc networking; FARGATE needs them [none]\n"
		"  --security-groups g,h     security groups for awsvpc networking [none]\n"
		"  --assign-public-ip        give a Fargate task a public IP (to pull images without\n"
		"                            NAT) [off]\n"
		"  --heartbeat S             HeartbeatSeconds; the agent beats every 60 s [%d]\n"
		"  --timeout S               TimeoutSeconds [%d]\n"
		"  --format F                asl: the definition; cloudformation: a template with the\n"
		"                            state machine, its role and the task role's policy [asl]\n"
		"  --schedule EXPR           cloudformation only: add an EventBridge Scheduler schedule\n"
		"                            (rate(...), cron(...) or at(...)) that starts the state\n"
		"                            machine, and its role (states:StartExecution on it only) [none]\n"
		"  --commands JSON           with --schedule: the input is {\"commands\": JSON}, the\n"
		"                            container's command; without it the input is {} [none]\n"
		"  --log-level LEVEL         error, warn, info or debug (SFN_AGENT_LOG_LEVEL) [info]\n"
		"  --log-format FMT          text or json (SFN_AGENT_LOG_FORMAT) [text]\n"
		"  -h, --help                this text\n",
		TEMPLATE_DEFAULT_HEARTBEAT, TEMPLATE_DEFAULT_TIMEOUT);
}

int cmd_template(int argc, char **argv)
{
	enum { O_CLUSTER = 256, O_TD, O_CONTAINER, O_SUBNETS, O_SGS, O_LT, O_HB, O_TIMEOUT, O_FORMAT, O_PUBLIC,
	       O_LOG_LEVEL, O_LOG_FORMAT, O_SCHEDULE, O_COMMANDS };
	static const struct option longopts[] = {
		{ "cluster", required_argument, NULL, O_CLUSTER },
		{ "task-definition", required_argument, NULL, O_TD },
		{ "container", required_argument, NULL, O_CONTAINER },
		{ "subnets", required_argument, NULL, O_SUBNETS },
		{ "security-groups", required_argument, NULL, O_SGS },
		{ "launch-type", required_argument, NULL, O_LT },
		{ "heartbeat", required_argument, NULL, O_HB },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "assign-public-ip", no_argument, NULL, O_PUBLIC },
		{ "log-level", required_argument, NULL, O_LOG_LEVEL },
		{ "log-format", required_argument, NULL, O_LOG_FORMAT },
		{ "schedule", required_argument, NULL, O_SCHEDULE },
		{ "commands", required_argument, NULL, O_COMMANDS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct template_opts o = { 0 };
	const char *format = "asl";
	const char *log_level_arg = NULL, *log_format_arg = NULL;
	double v;
	int c;

	struct err err = { "" };
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_CLUSTER: o.cluster = optarg; break;
		case O_TD: o.task_definition = optarg; break;
		case O_CONTAINER: o.container = optarg; break;
		case O_SUBNETS: o.subnets = optarg; break;
		case O_SGS: o.security_groups = optarg; break;
		case O_LT: o.launch_type = optarg; break;
		case O_PUBLIC: o.assign_public_ip = true; break;
		case O_SCHEDULE: o.schedule = optarg; break;
		case O_COMMANDS: o.schedule_commands = optarg; break;
		case O_FORMAT: format = optarg; break;
		case O_LOG_LEVEL: log_level_arg = optarg; break;
		case O_LOG_FORMAT: log_format_arg = optarg; break;
		case O_HB:
			/* Step Functions takes whole seconds, at most 99999999. */
			if (ctl_parse_seconds(optarg, 1, 99999999, &v) != 0 || v != (int)v)
				return ctl_usage_error("template", "--heartbeat %s is not a whole number of seconds "
						   "from 1 to 99999999: pass e.g. --heartbeat 300", optarg);
			o.heartbeat_s = (int)v;
			break;
		case O_TIMEOUT:
			if (ctl_parse_seconds(optarg, 1, 99999999, &v) != 0 || v != (int)v)
				return ctl_usage_error("template", "--timeout %s is not a whole number of seconds "
						   "from 1 to 99999999: pass e.g. --timeout 3600", optarg);
			o.timeout_s = (int)v;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			return ctl_bad_option("template", c, argv, longopts);
		}
	}
	if (ctl_log_setup(log_level_arg, log_format_arg, &err) != 0)
		return ctl_usage_error("template", "%s", err.msg);
	if (optind < argc)
		return ctl_usage_error("template", "unexpected argument \"%s\": template takes only options",
				       argv[optind]);
	if (!o.cluster || !o.task_definition || !o.container)
		return ctl_usage_error("template", "missing %s: pass --cluster, --task-definition and --container",
				       !o.cluster ? "--cluster" : !o.task_definition ? "--task-definition"
										 : "--container");
	bool cfn = strcmp(format, "cloudformation") == 0 || strcmp(format, "cfn") == 0;
	if (!cfn && strcmp(format, "asl") != 0)
		return ctl_usage_error("template", "--format %s is not known: pass asl or cloudformation", format);
	if (template_schedule_validate(o.schedule, o.schedule_commands, &err) != 0)
		return ctl_usage_error("template", "%s", err.msg);
	if (o.schedule && !cfn)
		return ctl_usage_error("template", "--schedule adds a schedule resource, which only the CloudFormation "
				   "form has: pass --format cloudformation");

	int hb = o.heartbeat_s ? o.heartbeat_s : TEMPLATE_DEFAULT_HEARTBEAT;
	if (hb <= ASL_DEFAULT_AGENT_HEARTBEAT)
		log_warn("HeartbeatSeconds %d is not longer than the agent's default heartbeat (%d s): run the "
			 "agent with --heartbeat %d (SFN_AGENT_HEARTBEAT=%d) or the task times out",
			 hb, ASL_DEFAULT_AGENT_HEARTBEAT, hb / 3 > 0 ? hb / 3 : 1, hb / 3 > 0 ? hb / 3 : 1);

	struct buf out = BUF_INIT;
	int rc = cfn ? template_cloudformation(&o, &out, &err) : template_asl(&o, &out, &err);
	if (rc != 0) {
		buf_free(&out);
		return ctl_usage_error("template", "%s", err.msg);
	}
	int wrc = write_all(STDOUT_FILENO, out.data, out.len);
	buf_free(&out);
	if (wrc != 0) {
		log_error("cannot write the template to standard output: check where it is redirected");
		return CTL_USAGE;
	}
	return CTL_OK;
}
