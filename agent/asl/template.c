#include "agent/asl/template.h"

#include "base/contract.h"
#include "base/json.h"
#include "agent/asl/asl.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cJSON prints with tabs; people paste this into consoles and YAML-minded
 * reviews, where two spaces is the norm. */
static void indent(struct buf *out, int depth)
{
	for (int i = 0; i < depth; i++)
		buf_puts(out, "  ");
}

static bool is_scalar(const cJSON *v)
{
	return !cJSON_IsArray(v) && !cJSON_IsObject(v);
}

static void pretty(struct buf *out, const cJSON *v, int depth)
{
	const cJSON *c;
	if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
		bool obj = cJSON_IsObject(v);
		if (!v->child) {
			buf_puts(out, obj ? "{}" : "[]");
			return;
		}
		/* Short lists of names (ErrorEquals, Subnets) read best on one line. */
		bool inline_list = !obj;
		size_t width = 0;
		cJSON_ArrayForEach(c, v) {
			inline_list = inline_list && is_scalar(c);
			width += cJSON_IsString(c) ? strlen(c->valuestring) + 4 : 8;
		}
		if (inline_list && width < 72) {
			buf_putc(out, '[');
			cJSON_ArrayForEach(c, v) {
				pretty(out, c, depth);
				if (c->next)
					buf_puts(out, ", ");
			}
			buf_putc(out, ']');
			return;
		}
		buf_puts(out, obj ? "{\n" : "[\n");
		cJSON_ArrayForEach(c, v) {
			indent(out, depth + 1);
			if (obj) {
				json_append_string(out, span_str(c->string));
				buf_puts(out, ": ");
			}
			pretty(out, c, depth + 1);
			buf_puts(out, c->next ? ",\n" : "\n");
		}
		indent(out, depth);
		buf_putc(out, obj ? '}' : ']');
	} else if (cJSON_IsString(v)) {
		json_append_string(out, span_str(v->valuestring));
	} else if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d > -1e15 && d < 1e15 && d == (double)(long long)d)
			buf_printf(out, "%lld", (long long)d);
		else
			buf_printf(out, "%.17g", d);
	} else if (cJSON_IsBool(v)) {
		buf_puts(out, cJSON_IsTrue(v) ? "true" : "false");
	} else {
		buf_puts(out, "null");
	}
}

static void print_json(struct buf *out, const cJSON *v)
{
	pretty(out, v, 0);
	buf_putc(out, '\n');
}

/* "a, b,,c" -> ["a", "b", "c"]; NULL when there is nothing in it. */
static cJSON *split_list(const char *s)
{
	if (!s)
		return NULL;
	cJSON *arr = cJSON_CreateArray();
	while (*s) {
		while (*s == ',' || isspace((unsigned char)*s))
			s++;
		const char *start = s;
		while (*s && *s != ',')
			s++;
		const char *end = s;
		while (end > start && isspace((unsigned char)end[-1]))
			end--;
		if (end > start) {
			char *item = xstrndup(start, (size_t)(end - start));
			cJSON_AddItemToArray(arr, cJSON_CreateString(item));
			free(item);
		}
	}
	if (!arr->child) {
		cJSON_Delete(arr);
		return NULL;
	}
	return arr;
}

static bool fargate(const struct template_opts *o)
{
	return !o->launch_type || strcmp(o->launch_type, "FARGATE") == 0;
}

static int validate(const struct template_opts *o, struct err *err)
{
	if (!o->cluster || !*o->cluster)
		return err_set(err, "no cluster given: pass --cluster NAME (the ECS cluster to run the task in)");
	if (!o->task_definition || !*o->task_definition)
		return err_set(err, "no task definition given: pass --task-definition FAMILY[:REVISION] or its ARN");
	if (!o->container || !*o->container)
		return err_set(err, "no container given: pass --container NAME (the container whose ENTRYPOINT "
				    "is sfn-agent)");
	if (o->launch_type && strcmp(o->launch_type, "FARGATE") != 0 && strcmp(o->launch_type, "EC2") != 0)
		return err_set(err, "--launch-type %s is not supported: pass FARGATE or EC2", o->launch_type);
	cJSON *subnets = split_list(o->subnets);
	bool no_subnets = subnets == NULL;
	cJSON_Delete(subnets);
	if (fargate(o) && no_subnets)
		return err_set(err, "Fargate tasks need a network configuration: pass --subnets subnet-a,subnet-b "
				    "(and --security-groups sg-x), or --launch-type EC2");
	int hb = o->heartbeat_s ? o->heartbeat_s : TEMPLATE_DEFAULT_HEARTBEAT;
	int to = o->timeout_s ? o->timeout_s : TEMPLATE_DEFAULT_TIMEOUT;
	if (hb >= to)
		return err_set(err, "--heartbeat %d is not shorter than --timeout %d, which Step Functions "
				    "refuses: lower --heartbeat or raise --timeout", hb, to);
	return 0;
}

static cJSON *error_list(const char *const *names, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(names[i]));
	return arr;
}

static cJSON *run_task(const struct template_opts *o, const char *resource, bool with_commands)
{
	cJSON *task = cJSON_CreateObject();
	cJSON_AddStringToObject(task, "Type", "Task");
	cJSON_AddStringToObject(task, "Comment",
				with_commands ? "The input has \"commands\": they replace the container's command."
					      : "The container runs the command of its task definition.");
	cJSON_AddStringToObject(task, "Resource", resource);

	cJSON *p = cJSON_AddObjectToObject(task, "Parameters");
	cJSON_AddStringToObject(p, "LaunchType", fargate(o) ? "FARGATE" : "EC2");
	cJSON_AddStringToObject(p, "Cluster", o->cluster);
	cJSON_AddStringToObject(p, "TaskDefinition", o->task_definition);
	cJSON *subnets = split_list(o->subnets);
	if (subnets) {
		cJSON *vpc = cJSON_AddObjectToObject(cJSON_AddObjectToObject(p, "NetworkConfiguration"),
						     "AwsvpcConfiguration");
		cJSON_AddItemToObject(vpc, "Subnets", subnets);
		cJSON *groups = split_list(o->security_groups);
		if (groups)
			cJSON_AddItemToObject(vpc, "SecurityGroups", groups);
		/* EC2 tasks in awsvpc mode cannot have a public IP: RunTask refuses the field. */
		if (fargate(o))
			cJSON_AddStringToObject(vpc, "AssignPublicIp", o->assign_public_ip ? "ENABLED" : "DISABLED");
	}
	cJSON *co = cJSON_CreateObject();
	cJSON_AddStringToObject(co, "Name", o->container);
	if (with_commands)
		cJSON_AddStringToObject(co, "Command.$", "$.commands");
	cJSON *env = cJSON_CreateObject();
	cJSON_AddStringToObject(env, "Name", ASL_DEFAULT_TOKEN_ENV);
	cJSON_AddStringToObject(env, "Value.$", "$$.Task.Token");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(co, "Environment"), env);
	cJSON *ov = cJSON_AddObjectToObject(p, "Overrides");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(ov, "ContainerOverrides"), co);

	cJSON_AddNumberToObject(task, "HeartbeatSeconds", o->heartbeat_s ? o->heartbeat_s : TEMPLATE_DEFAULT_HEARTBEAT);
	cJSON_AddNumberToObject(task, "TimeoutSeconds", o->timeout_s ? o->timeout_s : TEMPLATE_DEFAULT_TIMEOUT);

	/* ECS stopped the container (Spot reclaim, scale-in): the work itself did
	 * not fail, so running it again is the likely cure. */
	cJSON *retry = cJSON_CreateObject();
	static const char *const stopped[] = { SFN_ERR_CONTAINER_STOPPED };
	cJSON_AddItemToObject(retry, "ErrorEquals", error_list(stopped, 1));
	cJSON_AddNumberToObject(retry, "IntervalSeconds", 10);
	cJSON_AddNumberToObject(retry, "MaxAttempts", 2);
	cJSON_AddNumberToObject(retry, "BackoffRate", 2);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(task, "Retry"), retry);

	/* The agent's errors first, so a reader sees where to route each one;
	 * States.ALL catches the rest (heartbeat timeouts, RunTask refusals),
	 * whose States.* names a Fail state may not reuse as its own. */
	cJSON *catch = cJSON_AddArrayToObject(task, "Catch");
	cJSON *agent = cJSON_CreateObject();
	cJSON_AddItemToObject(agent, "ErrorEquals", error_list(asl_agent_errors, asl_n_agent_errors));
	cJSON_AddStringToObject(agent, "Next", "Failed");
	cJSON_AddItemToArray(catch, agent);
	cJSON *all = cJSON_CreateObject();
	static const char *const any[] = { "States.ALL" };
	cJSON_AddItemToObject(all, "ErrorEquals", error_list(any, 1));
	cJSON_AddStringToObject(all, "Next", "TaskFailed");
	cJSON_AddItemToArray(catch, all);

	cJSON_AddBoolToObject(task, "End", 1);
	return task;
}

static cJSON *build_asl(const struct template_opts *o, const char *resource)
{
	cJSON *m = cJSON_CreateObject();
	struct buf comment = BUF_INIT;
	buf_printf(&comment,
		   "Runs container %s of task definition %s on ECS cluster %s and waits until sfn-agent "
		   "reports its result. Generated by sfn-agent template.",
		   o->container, o->task_definition, o->cluster);
	cJSON_AddStringToObject(m, "Comment", buf_cstr(&comment));
	buf_free(&comment);
	cJSON_AddStringToObject(m, "StartAt", "HasCommands");
	cJSON *states = cJSON_AddObjectToObject(m, "States");

	/* ContainerOverrides cannot leave Command out conditionally, so the
	 * choice between "the input's commands" and "the image's command" is a
	 * Choice state in front of two otherwise identical Tasks. */
	cJSON *choice = cJSON_AddObjectToObject(states, "HasCommands");
	cJSON_AddStringToObject(choice, "Type", "Choice");
	cJSON *rule = cJSON_CreateObject();
	cJSON_AddStringToObject(rule, "Variable", "$.commands");
	cJSON_AddBoolToObject(rule, "IsPresent", 1);
	cJSON_AddStringToObject(rule, "Next", "RunTaskWithCommands");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(choice, "Choices"), rule);
	cJSON_AddStringToObject(choice, "Default", "RunTask");

	cJSON_AddItemToObject(states, "RunTaskWithCommands", run_task(o, resource, true));
	cJSON_AddItemToObject(states, "RunTask", run_task(o, resource, false));

	/* A Catch's default ResultPath replaces the input with {Error, Cause}:
	 * handing both on keeps the agent's cause (exit code, stderr tail) as
	 * the execution's. */
	cJSON *fail = cJSON_AddObjectToObject(states, "Failed");
	cJSON_AddStringToObject(fail, "Type", "Fail");
	cJSON_AddStringToObject(fail, "Comment", "The agent reported a failure: its error and cause, unchanged.");
	cJSON_AddStringToObject(fail, "ErrorPath", "$.Error");
	cJSON_AddStringToObject(fail, "CausePath", "$.Cause");
	fail = cJSON_AddObjectToObject(states, "TaskFailed");
	cJSON_AddStringToObject(fail, "Type", "Fail");
	cJSON_AddStringToObject(fail, "Comment",
				"The task could not run or went silent (States.HeartbeatTimeout, States.Timeout, "
				"RunTask refused): the original error leads the cause.");
	cJSON_AddStringToObject(fail, "Error", "TaskFailed");
	cJSON_AddStringToObject(fail, "CausePath", "States.Format('{}: {}', $.Error, $.Cause)");
	return m;
}

int template_asl(const struct template_opts *o, struct buf *out, struct err *err)
{
	if (validate(o, err) != 0)
		return -1;
	cJSON *m = build_asl(o, "arn:aws:states:::ecs:runTask.waitForTaskToken");
	print_json(out, m);
	cJSON_Delete(m);
	return 0;
}

static cJSON *sub(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static cJSON *sub(const char *fmt, ...)
{
	struct buf s = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&s, fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "Fn::Sub", buf_cstr(&s));
	buf_free(&s);
	return o;
}

static cJSON *ref(const char *name)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "Ref", name);
	return o;
}

static cJSON *statement(const char *sid, const char *const *actions, size_t n, cJSON *resource)
{
	cJSON *stmt = cJSON_CreateObject();
	cJSON_AddStringToObject(stmt, "Sid", sid);
	cJSON_AddStringToObject(stmt, "Effect", "Allow");
	cJSON_AddItemToObject(stmt, "Action", error_list(actions, n));
	cJSON_AddItemToObject(stmt, "Resource", resource);
	return stmt;
}

/* ecs:RunTask is granted on task definition ARNs, which name a revision. */
static cJSON *task_definition_arn(const char *td)
{
	if (strncmp(td, "arn:", 4) == 0) {
		const char *slash = strchr(td, '/');
		if (slash && strchr(slash, ':'))
			return cJSON_CreateString(td);
		struct buf b = BUF_INIT;
		buf_printf(&b, "%s:*", td);
		cJSON *s = cJSON_CreateString(buf_cstr(&b));
		buf_free(&b);
		return s;
	}
	return sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/%s%s", td,
		   strchr(td, ':') ? "" : ":*");
}

int template_schedule_validate(const char *schedule, const char *commands, struct err *err)
{
	if (commands && !schedule)
		return err_set(err, "--commands is what a schedule starts the state machine with: pass --schedule "
				    "EXPR too (and --format cloudformation)");
	if (!schedule)
		return 0;
	size_t n = strlen(schedule);
	bool form = (strncmp(schedule, "rate(", 5) == 0 || strncmp(schedule, "cron(", 5) == 0 ||
		     strncmp(schedule, "at(", 3) == 0) && n > 5 && schedule[n - 1] == ')';
	if (!form || n > 256)
		return err_set(err, "--schedule \"%.80s\" is not a schedule expression: pass e.g. --schedule "
				    "'rate(1 day)' or --schedule 'cron(0 3 * * ? *)'", schedule);
	if (!commands)
		return 0;
	cJSON *c = cJSON_Parse(commands);
	bool ok = cJSON_IsArray(c) && cJSON_GetArraySize(c) > 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, c)
		ok = ok && cJSON_IsString(item);
	cJSON_Delete(c);
	if (!ok)
		return err_set(err, "--commands is not a JSON array of strings: pass the container's command, "
				    "e.g. --commands '[\"sh\", \"-c\", \"./nightly.sh\"]'");
	return 0;
}

static bool has_template_syntax(const char *s)
{
	return s && strstr(s, "${");
}

/* An EventBridge Scheduler schedule that starts the state machine, and the
 * role it assumes: states:StartExecution on this state machine only. */
static void add_schedule(cJSON *res, const struct template_opts *o)
{
	cJSON *role = cJSON_AddObjectToObject(res, "ScheduleRole");
	cJSON_AddStringToObject(role, "Type", "AWS::IAM::Role");
	cJSON *props = cJSON_AddObjectToObject(role, "Properties");
	cJSON *trust = cJSON_AddObjectToObject(props, "AssumeRolePolicyDocument");
	cJSON_AddStringToObject(trust, "Version", "2012-10-17");
	cJSON *ts = cJSON_CreateObject();
	cJSON_AddStringToObject(ts, "Effect", "Allow");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(ts, "Principal"), "Service", "scheduler.amazonaws.com");
	cJSON_AddStringToObject(ts, "Action", "sts:AssumeRole");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(trust, "Statement"), ts);
	cJSON *pol = cJSON_CreateObject();
	cJSON_AddStringToObject(pol, "PolicyName", "StartTheStateMachine");
	cJSON *doc = cJSON_AddObjectToObject(pol, "PolicyDocument");
	cJSON_AddStringToObject(doc, "Version", "2012-10-17");
	static const char *const start[] = { "states:StartExecution" };
	cJSON_AddItemToArray(cJSON_AddArrayToObject(doc, "Statement"),
			     statement("StartTheStateMachine", start, 1, ref("StateMachine")));
	cJSON_AddItemToArray(cJSON_AddArrayToObject(props, "Policies"), pol);

	cJSON *sched = cJSON_AddObjectToObject(res, "Schedule");
	cJSON_AddStringToObject(sched, "Type", "AWS::Scheduler::Schedule");
	props = cJSON_AddObjectToObject(sched, "Properties");
	cJSON_AddStringToObject(props, "Description", "Starts the state machine. Generated by sfn-agent template.");
	cJSON_AddStringToObject(props, "ScheduleExpression", o->schedule);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(props, "FlexibleTimeWindow"), "Mode", "OFF");
	cJSON *target = cJSON_AddObjectToObject(props, "Target");
	cJSON_AddItemToObject(target, "Arn", ref("StateMachine"));
	cJSON *arn = cJSON_CreateArray();
	cJSON_AddItemToArray(arn, cJSON_CreateString("ScheduleRole"));
	cJSON_AddItemToArray(arn, cJSON_CreateString("Arn"));
	cJSON_AddItemToObject(cJSON_AddObjectToObject(target, "RoleArn"), "Fn::GetAtt", arn);
	struct buf input = BUF_INIT;
	if (o->schedule_commands) {
		cJSON *cmds = cJSON_Parse(o->schedule_commands);
		char *compact = cJSON_PrintUnformatted(cmds);
		buf_printf(&input, "{\"commands\":%s}", compact ? compact : "[]");
		free(compact);
		cJSON_Delete(cmds);
	} else {
		buf_puts(&input, "{}");
	}
	cJSON_AddStringToObject(target, "Input", buf_cstr(&input));
	buf_free(&input);
}

int template_cloudformation(const struct template_opts *o, struct buf *out, struct err *err)
{
	if (validate(o, err) != 0)
		return -1;
	if (has_template_syntax(o->cluster) || has_template_syntax(o->task_definition) ||
	    has_template_syntax(o->container))
		return err_set(err, "a name contains \"${\", which CloudFormation would substitute: pass the plain "
				    "names");
	cJSON *t = cJSON_CreateObject();
	cJSON_AddStringToObject(t, "AWSTemplateFormatVersion", "2010-09-09");
	cJSON_AddStringToObject(t, "Description",
				"A Step Functions state machine that runs an ECS task with sfn-agent as its "
				"ENTRYPOINT and waits for its result, with the roles it needs. Generated by "
				"sfn-agent template.");

	cJSON *params = cJSON_AddObjectToObject(t, "Parameters");
	cJSON *p = cJSON_AddObjectToObject(params, "TaskRoleArn");
	cJSON_AddStringToObject(p, "Type", "String");
	cJSON_AddStringToObject(p, "Description",
				"ARN of the task role (the role sfn-agent's calls run as), passed to ECS.");
	cJSON_AddStringToObject(p, "AllowedPattern", "^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$");
	p = cJSON_AddObjectToObject(params, "TaskRoleName");
	cJSON_AddStringToObject(p, "Type", "String");
	cJSON_AddStringToObject(p, "Description",
				"Name of the same task role: the policy for states:SendTask* is attached to it.");
	cJSON_AddNumberToObject(p, "MinLength", 1);
	p = cJSON_AddObjectToObject(params, "ExecutionRoleArn");
	cJSON_AddStringToObject(p, "Type", "String");
	cJSON_AddStringToObject(p, "Default", "");
	cJSON_AddStringToObject(p, "Description",
				"ARN of the task execution role (image pulls, logs), passed to ECS; empty if the "
				"task definition has none.");
	cJSON_AddStringToObject(p, "AllowedPattern", "^$|^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$");

	cJSON *conds = cJSON_AddObjectToObject(t, "Conditions");
	cJSON *eq = cJSON_CreateArray();
	cJSON_AddItemToArray(eq, ref("ExecutionRoleArn"));
	cJSON_AddItemToArray(eq, cJSON_CreateString(""));
	cJSON *eqo = cJSON_CreateObject();
	cJSON_AddItemToObject(eqo, "Fn::Equals", eq);
	cJSON *not = cJSON_CreateArray();
	cJSON_AddItemToArray(not, eqo);
	cJSON_AddItemToObject(cJSON_AddObjectToObject(conds, "HasExecutionRole"), "Fn::Not", not);

	cJSON *res = cJSON_AddObjectToObject(t, "Resources");

	/* The state machine's role: what the ECS integration does on its behalf. */
	cJSON *role = cJSON_AddObjectToObject(res, "StateMachineRole");
	cJSON_AddStringToObject(role, "Type", "AWS::IAM::Role");
	cJSON *props = cJSON_AddObjectToObject(role, "Properties");
	cJSON *trust = cJSON_AddObjectToObject(props, "AssumeRolePolicyDocument");
	cJSON_AddStringToObject(trust, "Version", "2012-10-17");
	cJSON *ts = cJSON_CreateObject();
	cJSON_AddStringToObject(ts, "Effect", "Allow");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(ts, "Principal"), "Service", "states.amazonaws.com");
	cJSON_AddStringToObject(ts, "Action", "sts:AssumeRole");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(trust, "Statement"), ts);
	cJSON *pol = cJSON_CreateObject();
	cJSON_AddStringToObject(pol, "PolicyName", "RunEcsTaskAndWaitForToken");
	cJSON *doc = cJSON_AddObjectToObject(pol, "PolicyDocument");
	cJSON_AddStringToObject(doc, "Version", "2012-10-17");
	cJSON *sts = cJSON_AddArrayToObject(doc, "Statement");
	static const char *const run[] = { "ecs:RunTask" };
	cJSON_AddItemToArray(sts, statement("RunTheTask", run, 1, task_definition_arn(o->task_definition)));
	static const char *const tasks[] = { "ecs:StopTask", "ecs:DescribeTasks" };
	cJSON_AddItemToArray(sts, statement("StopAndDescribeTasks", tasks, 2,
					    sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/*")));
	static const char *const pass[] = { "iam:PassRole" };
	cJSON *roles = cJSON_CreateArray();
	cJSON_AddItemToArray(roles, ref("TaskRoleArn"));
	cJSON *iff = cJSON_CreateArray();
	cJSON_AddItemToArray(iff, cJSON_CreateString("HasExecutionRole"));
	cJSON_AddItemToArray(iff, ref("ExecutionRoleArn"));
	cJSON_AddItemToArray(iff, ref("AWS::NoValue"));
	cJSON *ifo = cJSON_CreateObject();
	cJSON_AddItemToObject(ifo, "Fn::If", iff);
	cJSON_AddItemToArray(roles, ifo);
	cJSON_AddItemToArray(sts, statement("PassTheTaskRoles", pass, 1, roles));
	static const char *const events[] = { "events:PutTargets", "events:PutRule", "events:DescribeRule" };
	cJSON_AddItemToArray(sts, statement("EcsTaskEventsRule", events, 3,
					    sub("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:"
						"rule/StepFunctionsGetEventsForECSTaskRule")));
	cJSON_AddItemToArray(cJSON_AddArrayToObject(props, "Policies"), pol);

	cJSON *sm = cJSON_AddObjectToObject(res, "StateMachine");
	cJSON_AddStringToObject(sm, "Type", "AWS::StepFunctions::StateMachine");
	props = cJSON_AddObjectToObject(sm, "Properties");
	cJSON *arn = cJSON_CreateArray();
	cJSON_AddItemToArray(arn, cJSON_CreateString("StateMachineRole"));
	cJSON_AddItemToArray(arn, cJSON_CreateString("Arn"));
	cJSON_AddItemToObject(cJSON_AddObjectToObject(props, "RoleArn"), "Fn::GetAtt", arn);
	cJSON_AddItemToObject(props, "Definition",
			      build_asl(o, "${RunTaskResource}"));
	cJSON_AddItemToObject(cJSON_AddObjectToObject(props, "DefinitionSubstitutions"), "RunTaskResource",
			      sub("arn:${AWS::Partition}:states:::ecs:runTask.waitForTaskToken"));

	/* The agent reports with the task role.  These calls take no resource
	 * narrower than "*": the token itself is the authority. */
	cJSON *tp = cJSON_AddObjectToObject(res, "TaskRolePolicy");
	cJSON_AddStringToObject(tp, "Type", "AWS::IAM::ManagedPolicy");
	props = cJSON_AddObjectToObject(tp, "Properties");
	cJSON_AddStringToObject(props, "Description", "Lets sfn-agent report its task's result to Step Functions.");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(props, "Roles"), ref("TaskRoleName"));
	doc = cJSON_AddObjectToObject(props, "PolicyDocument");
	cJSON_AddStringToObject(doc, "Version", "2012-10-17");
	static const char *const report[] = { "states:SendTaskSuccess", "states:SendTaskFailure",
					      "states:SendTaskHeartbeat" };
	cJSON_AddItemToArray(cJSON_AddArrayToObject(doc, "Statement"),
			     statement("ReportTaskResult", report, 3, cJSON_CreateString("*")));

	if (o->schedule)
		add_schedule(res, o);

	cJSON *outs = cJSON_AddObjectToObject(t, "Outputs");
	cJSON_AddItemToObject(cJSON_AddObjectToObject(outs, "StateMachineArn"), "Value", ref("StateMachine"));
	cJSON_AddItemToObject(cJSON_AddObjectToObject(outs, "TaskRolePolicyArn"), "Value", ref("TaskRolePolicy"));

	print_json(out, t);
	cJSON_Delete(t);
	return 0;
}
