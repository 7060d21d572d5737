#include "src/cli.h"

#include "base/buf.h"
#include "base/input.h"
#include "base/json.h"
#include "base/log.h"
#include "base/posix.h"
#include "agent/arn.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
	struct buf msg = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	log_error("%s (see 'sfn-agent %s --help')", buf_cstr(&msg), cmd);
	buf_free(&msg);
	return CTL_USAGE;
}

int ctl_bad_option(const char *cmd, int opt, char **argv, const struct option *longopts)
{
	extern int optind, optopt;
	const char *arg = argv[optind - 1];
	if (opt == ':')
		return ctl_usage_error(cmd, "option %s needs a value: pass it as %s VALUE", arg, arg);
	if (strncmp(arg, "--", 2) == 0) {
		const char *eq = strchr(arg, '=');
		size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		for (const struct option *o = longopts; eq && o->name; o++)
			if (strlen(o->name) == n && strncmp(o->name, arg + 2, n) == 0)
				return ctl_usage_error(cmd, "option --%s takes no value: remove \"%s\"", o->name, eq);
		return ctl_usage_error(cmd, "unknown option %.*s: remove it", (int)(n + 2), arg);
	}
	if (optopt > 0 && optopt < 256)
		return ctl_usage_error(cmd, "unknown option -%c: remove it", optopt);
	return ctl_usage_error(cmd, "unknown option %s: remove it", arg);
}

static enum log_format log_format_in_use = LOG_TEXT;

int ctl_log_setup(const char *level, const char *format, struct err *err)
{
	enum log_level lv;
	enum log_format lf;
	if (log_options_resolve(&sys_real, level, format, &lv, &lf, err) != 0)
		return -1;
	log_format_in_use = lf;
	log_setup(lv, lf);
	return 0;
}

bool ctl_log_is_text(void)
{
	return log_format_in_use == LOG_TEXT;
}

int ctl_parse_seconds(const char *s, double min, double max, double *out)
{
	int64_t ms = seconds_parse(s);
	if (ms < 0 || (double)ms < min * 1000 || (double)ms > max * 1000)
		return -1;
	*out = (double)ms / 1000;
	return 0;
}

int ctl_set_agent_heartbeat(const char *cmd, const char *arg, struct asl_options *o)
{
	double v;
	if (ctl_parse_seconds(arg, 0, 86400, &v) != 0 || v != (int)v)
		return ctl_usage_error(cmd, "--heartbeat %s is not a whole number of seconds: pass the agent's "
				       "--heartbeat, e.g. 60", arg);
	o->agent_heartbeat_s = (int)v;
	return 0;
}

int ctl_set_agent_token_env(const char *cmd, const char *arg, struct asl_options *o)
{
	if (!*arg)
		return ctl_usage_error(cmd, "--token-env is empty: pass the variable's name");
	o->token_env = arg;
	return 0;
}

struct sfn_client *ctl_client_new(const char *arn_region, struct err *err)
{
	struct sfn_client_config cfg = { 0 };
	cfg.sys = &sys_real;
	cfg.region_fallback = arn_region && *arn_region ? arn_region : NULL;
	struct sfn_client *c = sfn_client_new(&cfg, err);
	if (!c)
		return NULL;
	/* The ARN names the one region where the resource exists; a different
	 * AWS_REGION makes every call fail with "does not exist". */
	const char *region = sfn_client_region(c);
	if (arn_region && *arn_region && region && strcmp(region, arn_region) != 0)
		log_warn("the ARN is in %s but calls go to %s (from the environment): unset AWS_REGION and "
			 "AWS_DEFAULT_REGION or set them to %s if the calls fail",
			 arn_region, region, arn_region);
	return c;
}

int ctl_state_machine_arg(const char *arg, char arn_region[32], bool *is_name, struct err *err)
{
	arn_region[0] = '\0';
	*is_name = strncmp(arg, "arn:", 4) != 0;
	if (!*is_name) {
		struct arn arn;
		if (arn_parse_state_machine(arg, "--state-machine", &arn, err) != 0)
			return -1;
		snprintf(arn_region, 32, "%s", arn.region);
		return 0;
	}
	/* Step Functions' names: 1-80 characters, none that an ARN would split on. */
	size_t n = strlen(arg);
	if (n == 0 || n > 80 || strpbrk(arg, ": \t\r\n/"))
		return err_set(err, "--state-machine \"%.80s\" is neither a state machine ARN "
				    "(arn:aws:states:REGION:ACCOUNT:stateMachine:NAME) nor a state machine name (1-80 "
				    "characters without spaces, colons or slashes): pass one of them", arg);
	return 0;
}

int ctl_resolve_state_machine(struct sfn_client *c, const char *name, int64_t deadline_ms, char **arn_out,
			      struct sfn_reply *reply, struct err *err)
{
	char *next = NULL;
	*arn_out = NULL;
	for (int page = 0; page < 1000; page++) {
		struct buf body = BUF_INIT;
		buf_puts(&body, "{\"maxResults\":1000");
		if (next) {
			buf_puts(&body, ",\"nextToken\":");
			json_append_string(&body, span_str(next));
		}
		buf_putc(&body, '}');
		int rc = sfn_call(c, "ListStateMachines", buf_cstr(&body), deadline_ms, reply);
		buf_free(&body);
		free(next);
		next = NULL;
		if (rc != 0)
			return -1;
		cJSON *root = cJSON_ParseWithLength(reply->body.data ? reply->body.data : "", reply->body.len);
		const cJSON *sm;
		cJSON_ArrayForEach(sm, cJSON_GetObjectItemCaseSensitive(root, "stateMachines")) {
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(sm, "name");
			const cJSON *a = cJSON_GetObjectItemCaseSensitive(sm, "stateMachineArn");
			if (cJSON_IsString(n) && cJSON_IsString(a) && strcmp(n->valuestring, name) == 0) {
				*arn_out = xstrdup(a->valuestring);
				break;
			}
		}
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "nextToken");
		if (!*arn_out && cJSON_IsString(t) && *t->valuestring)
			next = xstrdup(t->valuestring);
		cJSON_Delete(root);
		if (*arn_out) {
			log_debug("state machine %s is %s", name, *arn_out);
			return 0;
		}
		if (!next)
			break;
	}
	free(next);
	return err_set(err, "no state machine is named \"%s\" in %s for these credentials: check the name "
			    "(names are case-sensitive) and AWS_REGION, or pass the ARN", name, sfn_client_region(c));
}

void ctl_report_call(const char *operation, const struct sfn_reply *r)
{
	char explain[768];
	sfn_explain(r, operation, explain, sizeof explain);
	log_error("%s failed: %s", operation, explain);
	log_debug("%s: HTTP %ld, code \"%s\", message \"%s\", %d attempt(s)", operation, r->http_status, r->code,
		  r->message, r->attempts);
}

int ctl_check_state_machine(struct sfn_client *c, const char *arn, const struct asl_options *opt,
			    int64_t deadline_ms, struct asl_report *report, struct sfn_reply *reply, struct err *err)
{
	struct buf body = BUF_INIT;
	cJSON *root = NULL;
	int rc = -1;
	memset(report, 0, sizeof *report);
	buf_puts(&body, "{\"stateMachineArn\":");
	json_append_string(&body, span_str(arn));
	buf_putc(&body, '}');
	if (sfn_call(c, "DescribeStateMachine", buf_cstr(&body), deadline_ms, reply) != 0)
		goto out;
	root = cJSON_ParseWithLength(reply->body.data ? reply->body.data : "", reply->body.len);
	const cJSON *def = cJSON_GetObjectItemCaseSensitive(root, "definition");
	if (!cJSON_IsString(def)) {
		err_set(err, "DescribeStateMachine answered without a definition: check that the endpoint "
			     "(AWS_ENDPOINT_URL_SFN) is Step Functions");
		goto out;
	}
	rc = asl_check(def->valuestring, strlen(def->valuestring), opt, report, err);
out:
	cJSON_Delete(root);
	buf_free(&body);
	return rc;
}

/* ---- pure helpers of `start` ---- */

int ctl_execution_name_validate(const char *name, struct err *err)
{
	static const char forbidden[] = "<>{}[]?*\"#%\\^|~`$&,;:/";
	size_t len = strlen(name), chars = 0;
	if (len == 0)
		return err_set(err, "--name is empty: pass 1 to 80 characters, or leave --name out to get a "
				    "generated unique name");
	for (size_t i = 0; i < len;) {
		const unsigned char *p = (const unsigned char *)name + i;
		size_t n = utf8_seq_len(p, len - i);
		if (n == 0)
			return err_set(err, "--name is not valid UTF-8: pass letters, digits, - and _");
		/* Control characters: U+0000–001F, U+007F–009F. */
		if (n == 1 && (*p <= 0x20 || *p == 0x7F))
			return err_set(err, "--name contains a space or a control character, which Step Functions "
					    "forbids in names: use letters, digits, - and _");
		if (n == 1 && strchr(forbidden, *p))
			return err_set(err, "--name \"%s\" contains '%c', which Step Functions forbids in names: "
					    "use letters, digits, - and _", name, *p);
		if (n == 2 && p[0] == 0xC2 && (p[1] <= 0x9F || p[1] == 0xA0))
			return err_set(err, "--name contains a control or non-breaking space character, which Step "
					    "Functions forbids: use letters, digits, - and _");
		i += n;
		chars++;
	}
	if (chars > 80)
		return err_set(err, "--name is %zu characters long, more than the 80 Step Functions allows: "
				    "shorten it", chars);
	return 0;
}

void ctl_execution_name_generate(int64_t wall_ms, uint64_t rnd, char out[64])
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;
	char stamp[24] = "19700101T000000Z";
	if (gmtime_r(&t, &tm))
		strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, 64, "sfn-agent-%s-%016llx", stamp, (unsigned long long)rnd);
}

static bool is_task_arn(const char *s)
{
	const char *ecs = strstr(s, ":ecs:");
	return strncmp(s, "arn:", 4) == 0 && ecs && strstr(ecs, ":task/");
}

static const cJSON *get_any_case(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return v ? v : cJSON_GetObjectItem(obj, key); /* cJSON_GetObjectItem ignores case */
}

char *ctl_task_arn_in(const char *text)
{
	if (!text)
		return NULL;
	char *found = NULL;
	cJSON *root = cJSON_Parse(text);
	const cJSON *tasks = get_any_case(root, "Tasks");
	const cJSON *arn = get_any_case(cJSON_GetArrayItem(tasks, 0), "TaskArn");
	if (cJSON_IsString(arn) && is_task_arn(arn->valuestring))
		found = xstrdup(arn->valuestring);
	cJSON_Delete(root);
	if (found)
		return found;
	/* Another shape (or text that is not JSON): any task ARN will do. */
	for (const char *p = strstr(text, "arn:"); p; p = strstr(p + 4, "arn:")) {
		size_t n = strcspn(p, "\"' \t\r\n,}]\\");
		char *cand = xstrndup(p, n);
		if (is_task_arn(cand))
			return cand;
		free(cand);
	}
	return NULL;
}

/* The first "...EventDetails" object of an event that has the field. */
static const cJSON *event_detail(const cJSON *ev, const char *field)
{
	const cJSON *d;
	cJSON_ArrayForEach(d, ev) {
		size_t n = d->string ? strlen(d->string) : 0;
		if (cJSON_IsObject(d) && n > 12 && strcmp(d->string + n - 12, "EventDetails") == 0 &&
		    cJSON_GetObjectItemCaseSensitive(d, field))
			return d;
	}
	return NULL;
}

/* Events are taken by id, not by position: a server may ignore reverseOrder
 * (moto does), and "newest" must mean the same either way. */
int ctl_history_scan(const char *body, size_t len, struct ctl_history *h)
{
	memset(h, 0, sizeof *h);
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *events = cJSON_GetObjectItemCaseSensitive(root, "events");
	if (!cJSON_IsArray(events)) {
		cJSON_Delete(root);
		return -1;
	}
	size_t cap = 0;
	long long state_id = -1, error_id = -1, task_end_id = -1, submitted_id = -1;
	long long *arn_ids = NULL;
	const cJSON *ev;
	cJSON_ArrayForEach(ev, events) {
		const cJSON *idv = cJSON_GetObjectItemCaseSensitive(ev, "id");
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
		/* Bounded before the conversion: an id beyond long long is undefined. */
		long long id = cJSON_IsNumber(idv) && idv->valuedouble > 0 && idv->valuedouble < 9e18
				       ? (long long)idv->valuedouble
				       : 0;
		if (id > h->newest_id)
			h->newest_id = id;
		const char *t = cJSON_IsString(type) ? type->valuestring : "";
		size_t tl = strlen(t);
		if (id > state_id && tl > 7 && strcmp(t + tl - 7, "Entered") == 0) {
			const cJSON *name = cJSON_GetObjectItemCaseSensitive(event_detail(ev, "name"), "name");
			if (cJSON_IsString(name)) {
				free(h->state);
				h->state = xstrdup(name->valuestring);
				state_id = id;
			}
		}
		if (strcmp(t, "TaskSubmitted") == 0 && id > submitted_id)
			submitted_id = id;
		if ((strcmp(t, "TaskSucceeded") == 0 || strcmp(t, "TaskFailed") == 0 || strcmp(t, "TaskTimedOut") == 0 ||
		     strcmp(t, "TaskStateAborted") == 0) && id > task_end_id)
			task_end_id = id;
		if (strncmp(t, "Task", 4) == 0) {
			const cJSON *out = cJSON_GetObjectItemCaseSensitive(event_detail(ev, "output"), "output");
			char *arn = cJSON_IsString(out) ? ctl_task_arn_in(out->valuestring) : NULL;
			if (arn) {
				size_t ids_cap = cap;
				h->task_arns = array_reserve(h->task_arns, h->n_task_arns, &cap, sizeof *h->task_arns);
				arn_ids = array_reserve(arn_ids, h->n_task_arns, &ids_cap, sizeof *arn_ids);
				/* Insertion by id, newest first. */
				size_t i = h->n_task_arns++;
				for (; i > 0 && arn_ids[i - 1] < id; i--) {
					h->task_arns[i] = h->task_arns[i - 1];
					arn_ids[i] = arn_ids[i - 1];
				}
				h->task_arns[i] = arn;
				arn_ids[i] = id;
			}
		}
		const cJSON *d = event_detail(ev, "error");
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(d, "error");
		if (id > error_id && cJSON_IsString(e)) {
			const cJSON *c = cJSON_GetObjectItemCaseSensitive(d, "cause");
			free(h->error);
			free(h->cause);
			h->error = xstrdup(e->valuestring);
			h->cause = cJSON_IsString(c) ? xstrdup(c->valuestring) : NULL;
			error_id = id;
		}
	}
	h->task_waiting = submitted_id > task_end_id;
	free(arn_ids);
	cJSON_Delete(root);
	return 0;
}

static char *dup_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

int ctl_task_state_scan(const char *body, size_t len, struct ctl_task_state *t)
{
	memset(t, 0, sizeof *t);
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks");
	if (!cJSON_IsArray(tasks)) {
		cJSON_Delete(root);
		return -1;
	}
	const cJSON *task = cJSON_GetArrayItem(tasks, 0);
	if (cJSON_IsObject(task)) {
		t->last_status = dup_string(task, "lastStatus");
		t->stop_code = dup_string(task, "stopCode");
		t->stopped_reason = dup_string(task, "stoppedReason");
		t->task_definition_arn = dup_string(task, "taskDefinitionArn");
		const cJSON *cs = cJSON_GetObjectItemCaseSensitive(task, "containers");
		const cJSON *list = cJSON_IsArray(cs) ? cs : NULL;
		const cJSON *c;
		size_t cap = 0;
		cJSON_ArrayForEach(c, list) {
			if (!cJSON_IsObject(c))
				continue;
			t->containers = array_reserve(t->containers, t->n_containers, &cap, sizeof *t->containers);
			struct ctl_container_state *cc = &t->containers[t->n_containers++];
			memset(cc, 0, sizeof *cc);
			cc->name = dup_string(c, "name");
			cc->reason = dup_string(c, "reason");
			const cJSON *code = cJSON_GetObjectItemCaseSensitive(c, "exitCode");
			if (cJSON_IsNumber(code) && code->valuedouble >= -2147483648.0 && code->valuedouble <= 2147483647.0) {
				cc->has_exit_code = true;
				cc->exit_code = (int)code->valuedouble;
			}
		}
	}
	const cJSON *failures = cJSON_GetObjectItemCaseSensitive(root, "failures");
	t->failure = dup_string(cJSON_GetArrayItem(failures, 0), "reason");
	cJSON_Delete(root);
	return 0;
}

void ctl_task_state_free(struct ctl_task_state *t)
{
	for (size_t i = 0; i < t->n_containers; i++) {
		free(t->containers[i].name);
		free(t->containers[i].reason);
	}
	free(t->containers);
	free(t->last_status);
	free(t->stop_code);
	free(t->stopped_reason);
	free(t->failure);
	free(t->task_definition_arn);
	memset(t, 0, sizeof *t);
}

int ctl_awslogs_scan(const char *body, size_t len, struct ctl_awslogs **out)
{
	*out = NULL;
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *td = cJSON_GetObjectItemCaseSensitive(root, "taskDefinition");
	const cJSON *cds = cJSON_GetObjectItemCaseSensitive(td, "containerDefinitions");
	if (!cJSON_IsArray(cds)) {
		cJSON_Delete(root);
		return -1;
	}
	int n = 0;
	size_t cap = 0;
	const cJSON *cd;
	cJSON_ArrayForEach(cd, cds) {
		const cJSON *lc = cJSON_GetObjectItemCaseSensitive(cd, "logConfiguration");
		const cJSON *driver = cJSON_GetObjectItemCaseSensitive(lc, "logDriver");
		const cJSON *opts = cJSON_GetObjectItemCaseSensitive(lc, "options");
		const cJSON *group = cJSON_GetObjectItemCaseSensitive(opts, "awslogs-group");
		const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(opts, "awslogs-stream-prefix");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(cd, "name");
		if (!cJSON_IsString(driver) || strcmp(driver->valuestring, "awslogs") != 0 || !cJSON_IsString(group) ||
		    !cJSON_IsString(prefix) || !cJSON_IsString(name))
			continue;
		*out = array_reserve(*out, (size_t)n, &cap, sizeof **out);
		(*out)[n].container = xstrdup(name->valuestring);
		(*out)[n].group = xstrdup(group->valuestring);
		(*out)[n].prefix = xstrdup(prefix->valuestring);
		n++;
	}
	cJSON_Delete(root);
	return n;
}

void ctl_awslogs_free(struct ctl_awslogs *a, int n)
{
	for (int i = 0; i < n; i++) {
		free(a[i].container);
		free(a[i].group);
		free(a[i].prefix);
	}
	free(a);
}

char *ctl_task_cluster(const char *task_arn)
{
	const char *p = strstr(task_arn ? task_arn : "", ":task/");
	if (!p)
		return NULL;
	p += 6;
	const char *slash = strrchr(p, '/');
	return slash && slash > p ? xstrndup(p, (size_t)(slash - p)) : NULL;
}

void ctl_history_free(struct ctl_history *h)
{
	for (size_t i = 0; i < h->n_task_arns; i++)
		free(h->task_arns[i]);
	free(h->task_arns);
	free(h->state);
	free(h->error);
	free(h->cause);
	memset(h, 0, sizeof *h);
}

void ctl_format_elapsed(int64_t ms, char out[32])
{
	if (ms < 0)
		ms = 0;
	int64_t s = ms / 1000;
	if (s < 60)
		snprintf(out, 32, "%.1fs", (double)ms / 1000);
	else if (s < 3600)
		snprintf(out, 32, "%dm%02ds", (int)(s / 60), (int)(s % 60));
	else
		snprintf(out, 32, "%dh%02dm%02ds", (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
}

void cli_leave_report_mark(const char *mark, const char *operation, const char *fp)
{
	if (!mark || !*mark)
		return;
	/* Non-blocking: a mark replaced by a FIFO must not hold the agent. */
	int fd = open(mark, O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK);
	char line[64];
	int len = snprintf(line, sizeof line, "%s %s\n", operation, fp);
	if (fd < 0 || write_all(fd, line, (size_t)len) != 0)
		log_warn("cannot tell the supervising agent that %s was reported (%s): it may report again", fp,
			 strerror(errno));
	if (fd >= 0)
		close(fd);
}
