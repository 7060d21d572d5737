/* sfn-agent check: reads a state machine and lists what would make its
 * waitForTaskToken ECS tasks hang or fail to start. */
#include "src/commands.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "base/term.h"
#include "agent/creds/creds.h"
#include "agent/asl/asl.h"
#include "agent/aws_json.h"
#include "agent/iam.h"
#include <cjson/cJSON.h>
#include "src/cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sfn-agent check --state-machine ARN|NAME [--heartbeat S] [--token-env NAME]\n"
		"                       [--format text|json] [--no-iam]\n"
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
		"It also reads IAM: the state machine's role (inline and attached policies) must allow\n"
		"ecs:RunTask on each task definition and iam:PassRole on its task and execution roles, and\n"
		"the task role states:SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat.  A Deny or\n"
		"a Condition makes that \"cannot tell\" (said, not a finding); when reading IAM is denied,\n"
		"check says which permission would let it look and goes on.\n"
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
		"  --no-iam              skip the IAM checks [off: they are done]\n"
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

/* ---- IAM ---- */

#define IAM_READ "iam:ListRolePolicies, iam:GetRolePolicy, iam:ListAttachedRolePolicies, iam:GetPolicy and " \
		 "iam:GetPolicyVersion"

struct iam_check {
	struct aws_json_client *iam, *ecs;
	struct asl_report *report;
	int64_t deadline_ms;
	bool denied_said;
};

/* A role's policies, or false after saying why they cannot be read. */
static bool read_role(struct iam_check *ic, const char *what, const char *role_arn, struct iam_policies *out)
{
	char *name = iam_role_name(role_arn);
	if (!name) {
		log_warn("check: cannot tell what the %s (%s) allows: it is not a role ARN", what, role_arn);
		return false;
	}
	struct sfn_reply reply = { 0 };
	const char *failed = NULL;
	bool ok = iam_role_policies(ic->iam, name, ic->deadline_ms, out, &reply, &failed) == 0;
	if (!ok && reply.outcome == SFN_ACCESS_DENIED)
		log_warn("check: cannot read the %s %s: %s is denied to these credentials; %s on it would let check "
			 "look (--no-iam skips this); going on without it", what, name, failed, IAM_READ);
	else if (!ok)
		log_warn("check: cannot read the %s %s (%s: %s%s%s); going on without it", what, name, failed, reply.code,
			 reply.code[0] ? ": " : "", reply.message);
	sfn_reply_free(&reply);
	free(name);
	return ok;
}

static void add_finding_text(struct iam_check *ic, enum asl_problem p, const char *state, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add_finding_text(struct iam_check *ic, enum asl_problem p, const char *state, const char *fmt, ...)
{
	struct buf text = BUF_INIT;
	va_list ap;
	buf_printf(&text, "%s: ", state);
	va_start(ap, fmt);
	buf_vprintf(&text, fmt, ap);
	va_end(ap);
	asl_report_add(ic->report, p, state, buf_cstr(&text));
	buf_free(&text);
}

/* One ECS Task state whose task definition is written in the definition. */
static void check_task_iam(struct iam_check *ic, const char *state, const char *td, bool reports,
			   const char *sm_role, const struct iam_policies *sm_pols)
{
	struct buf body = BUF_INIT;
	struct sfn_reply reply = { 0 };
	char why[160];
	buf_puts(&body, "{\"taskDefinition\":");
	json_append_string(&body, span_str(td));
	buf_putc(&body, '}');
	if (aws_json_call(ic->ecs, "DescribeTaskDefinition", buf_cstr(&body), ic->deadline_ms, &reply) != 0) {
		log_warn("check: %s: cannot read the task definition %s (DescribeTaskDefinition: %s%s%s)%s", state, td,
			 reply.code, reply.code[0] ? ": " : "", reply.message,
			 reply.outcome == SFN_ACCESS_DENIED ? "; ecs:DescribeTaskDefinition would let check look" : "");
		goto out;
	}
	cJSON *root = cJSON_ParseWithLength(reply.body.data ? reply.body.data : "", reply.body.len);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "taskDefinition");
	const cJSON *arn = cJSON_GetObjectItemCaseSensitive(t, "taskDefinitionArn");
	const cJSON *roles[2] = { cJSON_GetObjectItemCaseSensitive(t, "taskRoleArn"),
				  cJSON_GetObjectItemCaseSensitive(t, "executionRoleArn") };
	const char *td_arn = cJSON_IsString(arn) ? arn->valuestring : td;
	if (sm_pols) {
		switch (iam_evaluate(sm_pols, "ecs:RunTask", td_arn, why, sizeof why)) {
		case IAM_DENIED:
			add_finding_text(ic, ASL_IAM_RUN_TASK, state,
				"the state machine's role %s does not allow ecs:RunTask on %s, so every run fails with "
				"ECS.AccessDeniedException; add to its policy: {\"Effect\": \"Allow\", \"Action\": "
				"\"ecs:RunTask\", \"Resource\": \"%s\"}", sm_role, td_arn, td_arn);
			break;
		case IAM_CANNOT_TELL:
			log_info("check: %s: cannot tell whether the state machine's role allows ecs:RunTask on %s (%s)",
				 state, td_arn, why);
			break;
		case IAM_ALLOWED:
			break;
		}
		struct buf missing = BUF_INIT;
		for (int i = 0; i < 2; i++) {
			if (!cJSON_IsString(roles[i]) || !*roles[i]->valuestring)
				continue;
			const char *r = roles[i]->valuestring;
			if (i == 1 && cJSON_IsString(roles[0]) && strcmp(roles[0]->valuestring, r) == 0)
				continue;
			enum iam_verdict v = iam_evaluate(sm_pols, "iam:PassRole", r, why, sizeof why);
			if (v == IAM_DENIED)
				buf_printf(&missing, "%s\"%s\"", missing.len ? ", " : "", r);
			else if (v == IAM_CANNOT_TELL)
				log_info("check: %s: cannot tell whether the state machine's role allows iam:PassRole on "
					 "%s (%s)", state, r, why);
		}
		if (missing.len)
			add_finding_text(ic, ASL_IAM_PASS_ROLE, state,
				"the state machine's role %s does not allow iam:PassRole on the task's roles, so RunTask "
				"is refused (ECS.AccessDeniedException: ... not authorized to perform: iam:PassRole); add "
				"to its policy: {\"Effect\": \"Allow\", \"Action\": \"iam:PassRole\", \"Resource\": [%s]}",
				sm_role, buf_cstr(&missing));
		buf_free(&missing);
	}
	if (reports && cJSON_IsString(roles[0])) {
		struct iam_policies task_pols = { 0 };
		if (read_role(ic, "task role", roles[0]->valuestring, &task_pols)) {
			static const char *const sends[] = { "states:SendTaskSuccess", "states:SendTaskFailure",
							     "states:SendTaskHeartbeat" };
			struct buf missing = BUF_INIT;
			for (size_t i = 0; i < 3; i++) {
				enum iam_verdict v = iam_evaluate(&task_pols, sends[i], "*", why, sizeof why);
				if (v == IAM_DENIED)
					buf_printf(&missing, "%s%s", missing.len ? ", " : "", sends[i]);
				else if (v == IAM_CANNOT_TELL)
					log_info("check: %s: cannot tell whether the task role allows %s (%s)", state,
						 sends[i], why);
			}
			if (missing.len)
				add_finding_text(ic, ASL_IAM_TASK_ROLE, state,
					"the task role %s does not allow %s, so the agent's calls are refused and the "
					"execution waits for its timeout; add to its policy: {\"Effect\": \"Allow\", "
					"\"Action\": [\"states:SendTaskSuccess\", \"states:SendTaskFailure\", "
					"\"states:SendTaskHeartbeat\"], \"Resource\": \"*\"}",
					roles[0]->valuestring, buf_cstr(&missing));
			buf_free(&missing);
			iam_policies_free(&task_pols);
		}
	}
	cJSON_Delete(root);
out:
	sfn_reply_free(&reply);
	buf_free(&body);
}

static void walk_tasks(struct iam_check *ic, const cJSON *machine, const char *sm_role,
		       const struct iam_policies *sm_pols, int depth)
{
	const cJSON *st;
	if (depth > 64)
		return;
	cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(machine, "States")) {
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(st, "Type");
		const cJSON *res = cJSON_GetObjectItemCaseSensitive(st, "Resource");
		if (cJSON_IsString(type) && strcmp(type->valuestring, "Task") == 0 && cJSON_IsString(res) &&
		    strstr(res->valuestring, ":states:::ecs:runTask")) {
			const cJSON *params = cJSON_GetObjectItemCaseSensitive(st, "Parameters");
			if (!params)
				params = cJSON_GetObjectItemCaseSensitive(st, "Arguments");
			const cJSON *td = cJSON_GetObjectItemCaseSensitive(params, "TaskDefinition");
			if (cJSON_IsString(td) && strncmp(td->valuestring, "{%", 2) != 0)
				check_task_iam(ic, st->string, td->valuestring,
					       strstr(res->valuestring, "waitForTaskToken") != NULL, sm_role, sm_pols);
			continue;
		}
		const cJSON *branch;
		cJSON_ArrayForEach(branch, cJSON_GetObjectItemCaseSensitive(st, "Branches"))
			walk_tasks(ic, branch, sm_role, sm_pols, depth + 1);
		const cJSON *proc = cJSON_GetObjectItemCaseSensitive(st, "ItemProcessor");
		if (!proc)
			proc = cJSON_GetObjectItemCaseSensitive(st, "Iterator");
		if (proc)
			walk_tasks(ic, proc, sm_role, sm_pols, depth + 1);
	}
}

/* The IAM half of check: best effort, never a reason to fail. */
static void check_iam(struct sfn_client *client, const char *describe_body, struct asl_report *report)
{
	struct iam_check ic = { .report = report, .deadline_ms = sys_real.mono_ms() + 60000 };
	struct iam_policies sm_pols = { 0 };
	bool have_sm_pols = false;
	char *sm_role = NULL;
	struct err err = { "" };
	cJSON *root = cJSON_Parse(describe_body);
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(root, "roleArn");
	const cJSON *def = cJSON_GetObjectItemCaseSensitive(root, "definition");
	cJSON *machine = cJSON_IsString(def) ? cJSON_Parse(def->valuestring) : NULL;
	if (!machine)
		goto out;
	ic.iam = aws_json_client_new(&sys_real, &aws_service_iam, sfn_client_region(client), &err);
	ic.ecs = ic.iam ? aws_json_client_new(&sys_real, &aws_service_ecs, sfn_client_region(client), &err) : NULL;
	if (!ic.iam || !ic.ecs) {
		log_warn("check: not reading IAM: %s", err.msg);
		goto out;
	}
	if (cJSON_IsString(role)) {
		sm_role = iam_role_name(role->valuestring);
		have_sm_pols = read_role(&ic, "state machine's role", role->valuestring, &sm_pols);
	}
	walk_tasks(&ic, machine, sm_role ? sm_role : "(unknown)", have_sm_pols ? &sm_pols : NULL, 0);
out:
	iam_policies_free(&sm_pols);
	free(sm_role);
	cJSON_Delete(machine);
	cJSON_Delete(root);
	aws_json_client_free(ic.iam);
	aws_json_client_free(ic.ecs);
}

int cmd_check(int argc, char **argv)
{
	enum { O_SM = 256, O_HB, O_TOKEN_ENV, O_LOG_LEVEL, O_LOG_FORMAT, O_PROFILE, O_FORMAT, O_NO_IAM };
	static const struct option longopts[] = {
		{ "state-machine", required_argument, NULL, O_SM },
		{ "heartbeat", required_argument, NULL, O_HB },
		{ "token-env", required_argument, NULL, O_TOKEN_ENV },
		{ "log-level", required_argument, NULL, O_LOG_LEVEL },
		{ "log-format", required_argument, NULL, O_LOG_FORMAT },
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "no-iam", no_argument, NULL, O_NO_IAM },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct asl_options opt = { ASL_DEFAULT_AGENT_HEARTBEAT, ASL_DEFAULT_TOKEN_ENV };
	const char *sm = NULL;
	bool json_out = false, no_iam = false;
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
		case O_NO_IAM: no_iam = true; break;
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
	if (!no_iam)
		check_iam(client, buf_cstr(&reply.body), &report);
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
		if (report.sync_tasks)
			log_info("%zu finding(s) in %zu waitForTaskToken and %zu ecs:runTask.sync task(s)", report.n,
				 report.tasks, report.sync_tasks);
		else
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
