#include "agent/asl/asl.h"

#include "base/buf.h"
#include "base/contract.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const asl_agent_errors[] = { SFN_ERR_SCRIPT_FAILED, SFN_ERR_SCRIPT_TIMED_OUT,
					 SFN_ERR_OUTPUT_INVALID, SFN_ERR_EXEC_FAILED,
					 SFN_ERR_CONTAINER_STOPPED };
const size_t asl_n_agent_errors = sizeof asl_agent_errors / sizeof asl_agent_errors[0];

#define N_AGENT_ERRORS (sizeof asl_agent_errors / sizeof asl_agent_errors[0])

/* What the states around a Task already handle: a Parallel or Map whose
 * Retry or Catch covers an error covers it for every state inside. */
struct cover {
	bool retry_stopped;
	bool caught[N_AGENT_ERRORS];
};

struct walk {
	const struct asl_options *opt;
	struct asl_report *out;
};

static void add_finding(struct walk *w, enum asl_problem problem, const char *state, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_finding(struct walk *w, enum asl_problem problem, const char *state, const char *fmt, ...)
{
	struct asl_report *r = w->out;
	r->findings = array_reserve(r->findings, r->n, &r->cap, sizeof *r->findings);
	struct buf text = BUF_INIT;
	va_list ap;
	buf_printf(&text, "%s: ", state);
	va_start(ap, fmt);
	buf_vprintf(&text, fmt, ap);
	va_end(ap);
	struct asl_finding *f = &r->findings[r->n++];
	f->problem = problem;
	f->state = xstrdup(state);
	f->text = buf_steal(&text);
}

static bool is_jsonata(const cJSON *state, bool inherited)
{
	const cJSON *ql = cJSON_GetObjectItemCaseSensitive(state, "QueryLanguage");
	if (cJSON_IsString(ql))
		return strcmp(ql->valuestring, "JSONata") == 0;
	return inherited;
}

/* arn:<partition>:states:::ecs:runTask.waitForTaskToken, any partition. */
static bool is_ecs_wait_for_token(const cJSON *state)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(state, "Resource");
	if (!cJSON_IsString(res) || strncmp(res->valuestring, "arn:", 4) != 0)
		return false;
	const char *p = strchr(res->valuestring + 4, ':');
	return p && p > res->valuestring + 4 && strcmp(p, ":states:::ecs:runTask.waitForTaskToken") == 0;
}

/* arn:<partition>:states:::ecs:runTask.sync (and .sync:2, which is not
 * ECS's but costs nothing to recognise). */
static bool is_ecs_sync(const cJSON *state)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(state, "Resource");
	if (!cJSON_IsString(res) || strncmp(res->valuestring, "arn:", 4) != 0)
		return false;
	const char *p = strchr(res->valuestring + 4, ':');
	return p && p > res->valuestring + 4 && strncmp(p, ":states:::ecs:runTask.sync", 26) == 0 &&
	       (p[26] == '\0' || p[26] == ':');
}

static bool has(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key) != NULL;
}

/* A field given either literally or as a JSONPath ("Key.$"). */
static bool has_either(const cJSON *obj, const char *key)
{
	char dyn[64];
	snprintf(dyn, sizeof dyn, "%s.$", key);
	return has(obj, key) || has(obj, dyn);
}

/* A JSONata expression ("{% ... %}") stands for a value we cannot know. */
static bool is_expression(const cJSON *v)
{
	return cJSON_IsString(v) && strncmp(v->valuestring, "{%", 2) == 0;
}

static bool names_token(const cJSON *env)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(env, "Value.$");
	if (cJSON_IsString(v) && strstr(v->valuestring, "$$.Task.Token"))
		return true;
	v = cJSON_GetObjectItemCaseSensitive(env, "Value");
	return is_expression(v) && strstr(v->valuestring, "$states.context.Task.Token");
}

enum token_state { TOKEN_MISSING, TOKEN_UNKNOWN, TOKEN_FOUND };

/* Looks for an Environment entry whose value is the task token.  A part of
 * the overrides computed at run time (a ".$" key or a JSONata expression)
 * might pass it, so that is TOKEN_UNKNOWN, never a finding. */
static enum token_state find_token(const cJSON *params, const char **name)
{
	*name = NULL;
	if (!cJSON_IsObject(params))
		return TOKEN_UNKNOWN;
	if (has(params, "Overrides.$"))
		return TOKEN_UNKNOWN;
	const cJSON *ov = cJSON_GetObjectItemCaseSensitive(params, "Overrides");
	if (!ov)
		return TOKEN_MISSING;
	if (!cJSON_IsObject(ov) || has(ov, "ContainerOverrides.$"))
		return TOKEN_UNKNOWN;
	const cJSON *cos = cJSON_GetObjectItemCaseSensitive(ov, "ContainerOverrides");
	if (!cos)
		return TOKEN_MISSING;
	if (!cJSON_IsArray(cos))
		return TOKEN_UNKNOWN;
	enum token_state found = TOKEN_MISSING;
	const cJSON *co;
	cJSON_ArrayForEach(co, cos) {
		if (!cJSON_IsObject(co) || has(co, "Environment.$")) {
			found = TOKEN_UNKNOWN;
			continue;
		}
		const cJSON *envs = cJSON_GetObjectItemCaseSensitive(co, "Environment");
		if (envs && !cJSON_IsArray(envs)) {
			found = TOKEN_UNKNOWN;
			continue;
		}
		const cJSON *env;
		cJSON_ArrayForEach(env, envs) {
			if (!names_token(env))
				continue;
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(env, "Name");
			*name = cJSON_IsString(n) ? n->valuestring : NULL;
			return TOKEN_FOUND;
		}
	}
	return found;
}

static bool is_fargate(const cJSON *params)
{
	const cJSON *lt = cJSON_GetObjectItemCaseSensitive(params, "LaunchType");
	if (cJSON_IsString(lt))
		return strcmp(lt->valuestring, "FARGATE") == 0;
	const cJSON *cps = cJSON_GetObjectItemCaseSensitive(params, "CapacityProviderStrategy");
	const cJSON *item;
	cJSON_ArrayForEach(item, cps) {
		const cJSON *cp = cJSON_GetObjectItemCaseSensitive(item, "CapacityProvider");
		if (cJSON_IsString(cp) && strncmp(cp->valuestring, "FARGATE", 7) == 0)
			return true;
	}
	return false;
}

/* Adds what a Retry or Catch list of state covers to c. */
static void add_cover(const cJSON *state, struct cover *c)
{
	const cJSON *list, *item, *e;
	list = cJSON_GetObjectItemCaseSensitive(state, "Retry");
	cJSON_ArrayForEach(item, list) {
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(item, "ErrorEquals")) {
			if (!cJSON_IsString(e))
				continue;
			const char *s = e->valuestring;
			if (!strcmp(s, SFN_ERR_CONTAINER_STOPPED) || !strcmp(s, "States.ALL") ||
			    !strcmp(s, "States.TaskFailed"))
				c->retry_stopped = true;
		}
	}
	list = cJSON_GetObjectItemCaseSensitive(state, "Catch");
	cJSON_ArrayForEach(item, list) {
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(item, "ErrorEquals")) {
			if (!cJSON_IsString(e))
				continue;
			const char *s = e->valuestring;
			bool all = !strcmp(s, "States.ALL") || !strcmp(s, "States.TaskFailed");
			for (size_t i = 0; i < N_AGENT_ERRORS; i++)
				if (all || !strcmp(s, asl_agent_errors[i]))
					c->caught[i] = true;
		}
	}
}

/* A HeartbeatSeconds that Step Functions accepts (below TimeoutSeconds;
 * timeout_s 0: not known) and that leaves room for a late heartbeat (at
 * least twice the agent's period); 0 when there is none. */
static int heartbeat_suggestion(int agent_hb_s, int timeout_s)
{
	int preferred = agent_hb_s * 5 > 300 ? agent_hb_s * 5 : 300;
	const int candidates[] = { preferred, agent_hb_s * 3, agent_hb_s * 2 };
	for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
		if (timeout_s == 0 || candidates[i] < timeout_s)
			return candidates[i];
	return 0;
}

/* The timeout a suggested HeartbeatSeconds must stay below: the state's
 * TimeoutSeconds, or the 3600 the no-timeout finding suggests; 0 when it is
 * set at run time. */
static int timeout_of(const cJSON *state)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(state, "TimeoutSeconds");
	if (cJSON_IsNumber(t))
		return t->valuedouble > 99999999 ? 99999999 : (int)t->valuedouble;
	if (t || has(state, "TimeoutSeconds.$") || has(state, "TimeoutSecondsPath"))
		return 0;
	return 3600;
}

static void check_network(struct walk *w, const char *name, const cJSON *params, const char *params_key)
{
	if (cJSON_IsObject(params) && is_fargate(params) && !has_either(params, "NetworkConfiguration"))
		add_finding(w, ASL_NO_NETWORK, name,
		    "Fargate tasks use awsvpc networking and RunTask refuses them without a network "
		    "configuration; add to %s: \"NetworkConfiguration\": {\"AwsvpcConfiguration\": "
		    "{\"Subnets\": [\"subnet-...\"], \"SecurityGroups\": [\"sg-...\"], "
		    "\"AssignPublicIp\": \"DISABLED\"}}",
		    params_key);
}

/* The overrides as RunTask will get them, as far as the definition says:
 * ".$" keys lose their suffix, the token becomes 2,048 characters (the
 * longest Step Functions issues), any other value computed at run time
 * counts as "" (it is what the room is for).  Returns the copy to measure. */
static cJSON *overrides_as_sent(const cJSON *v)
{
	if (cJSON_IsObject(v)) {
		cJSON *out = cJSON_CreateObject();
		const cJSON *item;
		cJSON_ArrayForEach(item, v) {
			size_t n = strlen(item->string);
			bool dynamic = n > 2 && strcmp(item->string + n - 2, ".$") == 0;
			char *key = xstrndup(item->string, dynamic ? n - 2 : n);
			cJSON *value;
			if ((dynamic && cJSON_IsString(item) && strstr(item->valuestring, "$$.Task.Token")) ||
			    (is_expression(item) && strstr(item->valuestring, "Task.Token"))) {
				char token[TOKEN_MAX_CHARS + 1];
				memset(token, 'x', TOKEN_MAX_CHARS);
				token[TOKEN_MAX_CHARS] = '\0';
				value = cJSON_CreateString(token);
			} else if (dynamic || is_expression(item)) {
				value = cJSON_CreateString("");
			} else {
				value = overrides_as_sent(item);
			}
			cJSON_AddItemToObject(out, key, value);
			free(key);
		}
		return out;
	}
	if (cJSON_IsArray(v)) {
		cJSON *out = cJSON_CreateArray();
		const cJSON *item;
		cJSON_ArrayForEach(item, v)
			cJSON_AddItemToArray(out, overrides_as_sent(item));
		return out;
	}
	return cJSON_Duplicate(v, true);
}

static void check_overrides_size(struct walk *w, const char *name, const cJSON *params)
{
	const cJSON *ov = cJSON_GetObjectItemCaseSensitive(params, "Overrides");
	if (!cJSON_IsObject(ov))
		return;
	cJSON *sent = overrides_as_sent(ov);
	char *text = sent ? cJSON_PrintUnformatted(sent) : NULL;
	cJSON_Delete(sent);
	if (!text)
		return;
	size_t n = strlen(text);
	free(text);
	if (n > RUNTASK_OVERRIDES_MAX)
		add_finding(w, ASL_OVERRIDES_SIZE, name,
		    "the overrides are %zu characters of JSON with a 2,048-character task token, more than the "
		    "8,192 RunTask accepts, so the task never starts; add the large values (commands, "
		    "environment) to the task definition or an object in S3 instead, and pass a reference", n);
	else if (RUNTASK_OVERRIDES_MAX - n < ASL_OVERRIDES_ROOM_MIN)
		add_finding(w, ASL_OVERRIDES_SIZE, name,
		    "the overrides are %zu characters of JSON with a 2,048-character task token, leaving %zu of "
		    "RunTask's 8,192 for what is set at run time (the command, values from the input); add "
		    "the large values (commands, environment) to the task definition or an object in S3 "
		    "instead, and pass a reference", n, (size_t)RUNTASK_OVERRIDES_MAX - n);
}

/* The error names Step Functions itself raises, for ErrorEquals. */
static const char *const states_errors[] = {
	"States.ALL", "States.TaskFailed", "States.Timeout", "States.HeartbeatTimeout", "States.Permissions",
	"States.Runtime", "States.ResultPathMatchFailure", "States.ParameterPathFailure", "States.BranchFailed",
	"States.NoChoiceMatched", "States.IntrinsicFailure", "States.ExceedToleratedFailureThreshold",
	"States.ItemReaderFailed", "States.ResultWriterFailed", "States.QueryEvaluationError",
};

/* What an ErrorEquals name was meant to be, when it differs from a known
 * name only in case ("scriptfailed", "states.all") or has ECS's prefix in
 * the wrong case ("Ecs.AmazonECSException"); NULL when it looks right or is
 * not ours to judge.  The result is malloc'd. */
static char *error_name_fix(const char *s)
{
	for (size_t i = 0; i < N_AGENT_ERRORS; i++) {
		if (strcmp(s, asl_agent_errors[i]) == 0)
			return NULL;
		if (strcasecmp(s, asl_agent_errors[i]) == 0)
			return xstrdup(asl_agent_errors[i]);
	}
	for (size_t i = 0; i < sizeof states_errors / sizeof states_errors[0]; i++) {
		if (strcmp(s, states_errors[i]) == 0)
			return NULL;
		if (strcasecmp(s, states_errors[i]) == 0)
			return xstrdup(states_errors[i]);
	}
	if (strncasecmp(s, "ecs.", 4) == 0 && strncmp(s, "ECS.", 4) != 0) {
		struct buf b = BUF_INIT;
		buf_printf(&b, "ECS.%s", s + 4);
		return buf_steal(&b);
	}
	return NULL;
}

static void check_error_names(struct walk *w, const char *name, const cJSON *state)
{
	static const char *const lists[] = { "Retry", "Catch" };
	for (size_t l = 0; l < 2; l++) {
		const cJSON *item, *e;
		cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(state, lists[l])) {
			cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(item, "ErrorEquals")) {
				if (!cJSON_IsString(e))
					continue;
				char *fix = error_name_fix(e->valuestring);
				if (!fix)
					continue;
				add_finding(w, ASL_ERROR_NAME, name,
				    "%s's ErrorEquals \"%s\" never matches: error names are case-sensitive%s; "
				    "add \"%s\" in its place", lists[l], e->valuestring,
				    strncmp(fix, "ECS.", 4) == 0 ? " and ECS's errors are named \"ECS.<error>\"" : "",
				    fix);
				free(fix);
			}
		}
	}
}

/* ecs:runTask.sync: Step Functions takes the result from ECS when the task
 * stops, so there is no token and no report. */
static void check_sync_task(struct walk *w, const char *name, const cJSON *state, bool jsonata)
{
	const char *params_key = jsonata ? "Arguments" : "Parameters";
	w->out->sync_tasks++;
	add_finding(w, ASL_SYNC_TASK, name,
	    "runs with ecs:runTask.sync, where Step Functions waits for the task to stop and reads only its "
	    "exit: the agent still runs the command as PID 1, forwards signals and relays its output to the "
	    "log, but reports nothing (there is no task token), so the command's output and error names "
	    "never reach the execution; to have them, change \"Resource\" to "
	    "\"arn:aws:states:::ecs:runTask.waitForTaskToken\" and add to %s.Overrides.ContainerOverrides: "
	    "{\"Name\": \"<container>\", \"Environment\": [{\"Name\": \"%s\", %s}]}",
	    params_key, w->opt->token_env,
	    jsonata ? "\"Value\": \"{% $states.context.Task.Token %}\"" : "\"Value.$\": \"$$.Task.Token\"");
	check_network(w, name, cJSON_GetObjectItemCaseSensitive(state, params_key), params_key);
}

static void check_task(struct walk *w, const char *name, const cJSON *state, bool jsonata,
		       const struct cover *outer)
{
	const struct asl_options *opt = w->opt;
	const char *params_key = jsonata ? "Arguments" : "Parameters";
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(state, params_key);
	w->out->tasks++;

	if (!has_either(state, "TimeoutSeconds") && !has(state, "TimeoutSecondsPath"))
		add_finding(w, ASL_NO_TIMEOUT, name,
		    "no TimeoutSeconds, so the execution waits up to a year when no result ever arrives; "
		    "add \"TimeoutSeconds\": 3600 (longer than the longest run)");

	int hb = opt->agent_heartbeat_s;
	int timeout = timeout_of(state);
	int suggest = heartbeat_suggestion(hb, timeout);
	int preferred = heartbeat_suggestion(hb, 0);
	const cJSON *hbs = cJSON_GetObjectItemCaseSensitive(state, "HeartbeatSeconds");
	bool any_hb = hbs || has(state, "HeartbeatSeconds.$") || has(state, "HeartbeatSecondsPath");
	if (hb == 0 && any_hb) {
		/* Heartbeats off: nothing resets the clock HeartbeatSeconds starts. */
		add_finding(w, ASL_SHORT_HEARTBEAT, name,
		    "the agent's heartbeats are off (--heartbeat 0), so the task times out after HeartbeatSeconds "
		    "however well it runs; add SFN_AGENT_HEARTBEAT=60 to the container's environment (or drop "
		    "HeartbeatSeconds)");
	} else if (hb == 0) {
		/* Without heartbeats HeartbeatSeconds can only hurt. */
	} else if (!any_hb && !suggest) {
		add_finding(w, ASL_NO_HEARTBEAT, name,
		    "no HeartbeatSeconds, so a container that dies without reporting is noticed only at "
		    "TimeoutSeconds, and TimeoutSeconds %d leaves no room for one (it must be longer than "
		    "twice the agent's heartbeat of %d s); raise \"TimeoutSeconds\" above %d, then add "
		    "\"HeartbeatSeconds\": %d",
		    timeout, hb, preferred, preferred);
	} else if (!any_hb) {
		add_finding(w, ASL_NO_HEARTBEAT, name,
		    "no HeartbeatSeconds, so a container that dies without reporting is noticed only at "
		    "TimeoutSeconds; add \"HeartbeatSeconds\": %d (the agent sends a heartbeat every %d s)",
		    suggest, hb);
	} else if (cJSON_IsNumber(hbs) && hbs->valuedouble <= hb) {
		/* A third leaves room for a late or lost heartbeat. */
		int lower = (int)hbs->valuedouble / 3;
		char alt[64] = "";
		if (lower >= 1)
			snprintf(alt, sizeof alt, ", or run the agent with --heartbeat %d", lower);
		if (suggest)
			add_finding(w, ASL_SHORT_HEARTBEAT, name,
			    "HeartbeatSeconds %d is not longer than the agent's heartbeat period (%d s), so the task "
			    "times out between two heartbeats; add \"HeartbeatSeconds\": %d instead%s",
			    (int)hbs->valuedouble, hb, suggest, alt);
		else
			add_finding(w, ASL_SHORT_HEARTBEAT, name,
			    "HeartbeatSeconds %d is not longer than the agent's heartbeat period (%d s), so the task "
			    "times out between two heartbeats, and TimeoutSeconds %d leaves no room for a longer one; "
			    "raise \"TimeoutSeconds\" above %d, then add \"HeartbeatSeconds\": %d instead%s",
			    (int)hbs->valuedouble, hb, timeout, preferred, preferred, alt);
	}

	const char *token_name;
	switch (find_token(params, &token_name)) {
	case TOKEN_MISSING:
		if (jsonata)
			add_finding(w, ASL_NO_TOKEN, name,
			    "no container override passes the task token, so the agent cannot report and the "
			    "execution waits until it times out; add to Arguments.Overrides.ContainerOverrides: "
			    "{\"Name\": \"<container>\", \"Environment\": [{\"Name\": \"%s\", "
			    "\"Value\": \"{%% $states.context.Task.Token %%}\"}]}",
			    opt->token_env);
		else
			add_finding(w, ASL_NO_TOKEN, name,
			    "no container override passes $$.Task.Token, so the agent cannot report and the "
			    "execution waits until it times out; add to Parameters.Overrides.ContainerOverrides: "
			    "{\"Name\": \"<container>\", \"Environment\": [{\"Name\": \"%s\", "
			    "\"Value.$\": \"$$.Task.Token\"}]}",
			    opt->token_env);
		break;
	case TOKEN_FOUND:
		if (token_name && strcmp(token_name, opt->token_env) != 0)
			add_finding(w, ASL_TOKEN_NAME, name,
			    "the task token is passed in %s but the agent reads %s; add --token-env %s to the "
			    "agent's command (or SFN_AGENT_TOKEN_ENV=%s to the container's environment)",
			    token_name, opt->token_env, token_name, token_name);
		break;
	case TOKEN_UNKNOWN:
		break;
	}

	check_network(w, name, params, params_key);
	check_overrides_size(w, name, params);

	struct cover c = *outer;
	add_cover(state, &c);
	if (!c.retry_stopped)
		add_finding(w, ASL_NO_RETRY, name,
		    "nothing retries ContainerStopped, so a task that ECS stops (Spot reclaim, scale-in, "
		    "deployment) fails the execution; add %s{\"ErrorEquals\": [\"ContainerStopped\"], "
		    "\"IntervalSeconds\": 10, \"MaxAttempts\": 2, \"BackoffRate\": 2}%s",
		    has(state, "Retry") ? "to \"Retry\": " : "\"Retry\": [", has(state, "Retry") ? "" : "]");

	struct buf missing = BUF_INIT;
	size_t n_missing = 0;
	for (size_t i = 0; i < N_AGENT_ERRORS; i++) {
		if (c.caught[i])
			continue;
		buf_printf(&missing, "%s%s", n_missing ? ", " : "", asl_agent_errors[i]);
		n_missing++;
	}
	if (n_missing)
		add_finding(w, ASL_NO_CATCH, name,
		    "no Catch for %s %s, so a failed run ends the execution with no state to clean up or "
		    "notify; add %s{\"ErrorEquals\": [\"States.ALL\"], \"Next\": \"<a state that handles the "
		    "failure>\"}%s",
		    n_missing == N_AGENT_ERRORS ? "the agent's errors" : "the agent's error(s)",
		    buf_cstr(&missing), has(state, "Catch") ? "as the last entry of \"Catch\": " : "\"Catch\": [",
		    has(state, "Catch") ? "" : "]");
	buf_free(&missing);
}

static int walk_machine(struct walk *w, const cJSON *machine, bool jsonata, const struct cover *outer,
			int depth, struct err *err);

static int walk_state(struct walk *w, const char *name, const cJSON *state, bool jsonata,
		      const struct cover *outer, int depth, struct err *err)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(state, "Type");
	if (!cJSON_IsString(type))
		return 0; /* Step Functions refuses it anyway; nothing of ours to say */
	jsonata = is_jsonata(state, jsonata);
	if (strcmp(type->valuestring, "Task") == 0) {
		if (is_ecs_wait_for_token(state)) {
			check_task(w, name, state, jsonata, outer);
			check_error_names(w, name, state);
		} else if (is_ecs_sync(state)) {
			check_sync_task(w, name, state, jsonata);
			check_error_names(w, name, state);
		}
		return 0;
	}
	check_error_names(w, name, state);
	struct cover c = *outer;
	add_cover(state, &c);
	if (strcmp(type->valuestring, "Parallel") == 0) {
		const cJSON *branch;
		cJSON_ArrayForEach(branch, cJSON_GetObjectItemCaseSensitive(state, "Branches"))
			if (walk_machine(w, branch, jsonata, &c, depth + 1, err) != 0)
				return -1;
	} else if (strcmp(type->valuestring, "Map") == 0) {
		const cJSON *proc = cJSON_GetObjectItemCaseSensitive(state, "ItemProcessor");
		if (!proc)
			proc = cJSON_GetObjectItemCaseSensitive(state, "Iterator");
		if (proc && walk_machine(w, proc, jsonata, &c, depth + 1, err) != 0)
			return -1;
	}
	return 0;
}

static int walk_machine(struct walk *w, const cJSON *machine, bool jsonata, const struct cover *outer,
			int depth, struct err *err)
{
	if (depth > 64)
		return err_set(err, "the state machine nests Parallel and Map states more than 64 deep: "
				    "flatten it");
	const cJSON *states = cJSON_GetObjectItemCaseSensitive(machine, "States");
	if (!cJSON_IsObject(states))
		return err_set(err, "the definition has no \"States\" object: pass an Amazon States Language "
				    "state machine");
	jsonata = is_jsonata(machine, jsonata);
	const cJSON *state;
	cJSON_ArrayForEach(state, states) {
		if (!cJSON_IsObject(state))
			continue;
		if (walk_state(w, state->string, state, jsonata, outer, depth, err) != 0)
			return -1;
	}
	return 0;
}

const char *asl_problem_name(enum asl_problem p)
{
	switch (p) {
	case ASL_NO_TIMEOUT: return "no-timeout";
	case ASL_NO_HEARTBEAT: return "no-heartbeat";
	case ASL_SHORT_HEARTBEAT: return "short-heartbeat";
	case ASL_NO_TOKEN: return "no-token";
	case ASL_TOKEN_NAME: return "token-name";
	case ASL_NO_NETWORK: return "no-network";
	case ASL_NO_RETRY: return "no-retry";
	case ASL_NO_CATCH: return "no-catch";
	case ASL_SYNC_TASK: return "sync-task";
	case ASL_ERROR_NAME: return "error-name";
	case ASL_OVERRIDES_SIZE: return "overrides-size";
	case ASL_IAM_RUN_TASK: return "iam-run-task";
	case ASL_IAM_PASS_ROLE: return "iam-pass-role";
	case ASL_IAM_TASK_ROLE: return "iam-task-role";
	}
	return "unknown";
}

int asl_check(const char *definition, size_t len, const struct asl_options *opt, struct asl_report *out,
	      struct err *err)
{
	static const struct asl_options defaults = { ASL_DEFAULT_AGENT_HEARTBEAT, ASL_DEFAULT_TOKEN_ENV };
	memset(out, 0, sizeof *out);
	struct asl_options o = opt ? *opt : defaults;
	if (!o.token_env || !*o.token_env)
		o.token_env = ASL_DEFAULT_TOKEN_ENV;
	struct walk w = { &o, out };
	struct cover none = { 0 };
	cJSON *root = cJSON_ParseWithLength(definition, len);
	if (!root || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return err_set(err, "the state machine definition is not a JSON object: pass an Amazon States "
				    "Language definition");
	}
	int rc = walk_machine(&w, root, false, &none, 0, err);
	cJSON_Delete(root);
	if (rc != 0)
		asl_report_free(out);
	return rc;
}

void asl_report_add(struct asl_report *r, enum asl_problem problem, const char *state, const char *text)
{
	r->findings = array_reserve(r->findings, r->n, &r->cap, sizeof *r->findings);
	struct asl_finding *f = &r->findings[r->n++];
	f->problem = problem;
	f->state = xstrdup(state);
	f->text = xstrdup(text);
}

void asl_report_free(struct asl_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->findings[i].state);
		free(r->findings[i].text);
	}
	free(r->findings);
	memset(r, 0, sizeof *r);
}
