#include "agent/iam.h"

#include "base/buf.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void iam_policies_free(struct iam_policies *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->docs[i]);
	free(p->docs);
	memset(p, 0, sizeof *p);
}

static void add_doc(struct iam_policies *p, char *doc)
{
	p->docs = array_reserve(p->docs, p->n, &p->cap, sizeof *p->docs);
	p->docs[p->n++] = doc;
}

char *iam_url_decode(const char *s)
{
	struct buf b = BUF_INIT;
	for (; *s; s++) {
		if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
			char hex[3] = { s[1], s[2], 0 };
			buf_putc(&b, (char)strtol(hex, NULL, 16));
			s += 2;
		} else if (*s == '+') {
			buf_putc(&b, ' ');
		} else {
			buf_putc(&b, *s);
		}
	}
	return buf_steal(&b);
}

static void form_value(struct buf *b, const char *v)
{
	for (; *v; v++) {
		unsigned char ch = (unsigned char)*v;
		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~')
			buf_putc(b, (char)ch);
		else
			buf_printf(b, "%%%02X", ch);
	}
}

/* Every <tag>text</tag> in an XML answer, entities decoded, in order.
 * Returns how many (*out malloc'd). */
static size_t xml_all(const char *body, const char *tag, char ***out)
{
	char open[64], close[64];
	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	size_t n = 0, cap = 0;
	*out = NULL;
	for (const char *p = strstr(body, open); p; p = strstr(p, open)) {
		p += strlen(open);
		const char *end = strstr(p, close);
		if (!end)
			break;
		struct buf v = BUF_INIT;
		static const struct {
			const char *entity;
			char ch;
		} entities[] = { { "&lt;", '<' }, { "&gt;", '>' }, { "&amp;", '&' }, { "&quot;", '"' }, { "&apos;", '\'' } };
		for (const char *q = p; q < end;) {
			size_t k;
			for (k = 0; k < sizeof entities / sizeof entities[0]; k++) {
				size_t len = strlen(entities[k].entity);
				if ((size_t)(end - q) >= len && memcmp(q, entities[k].entity, len) == 0) {
					buf_putc(&v, entities[k].ch);
					q += len;
					break;
				}
			}
			if (k == sizeof entities / sizeof entities[0])
				buf_putc(&v, *q++);
		}
		*out = array_reserve(*out, n, &cap, sizeof **out);
		(*out)[n++] = buf_steal(&v);
		p = end + strlen(close);
	}
	return n;
}

static void free_all(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int query(struct aws_json_client *iam, const char *action, const char *k1, const char *v1, const char *k2,
		 const char *v2, int64_t deadline_ms, struct sfn_reply *reply)
{
	struct buf body = BUF_INIT;
	buf_printf(&body, "Action=%s&Version=2010-05-08", action);
	if (k1) {
		buf_printf(&body, "&%s=", k1);
		form_value(&body, v1);
	}
	if (k2) {
		buf_printf(&body, "&%s=", k2);
		form_value(&body, v2);
	}
	int rc = aws_json_call(iam, action, buf_cstr(&body), deadline_ms, reply);
	buf_free(&body);
	return rc;
}

/* A document as IAM answers it: URL-encoded JSON (GetRolePolicy, and
 * GetPolicyVersion on AWS), or JSON as it is (moto's GetPolicyVersion). */
static char *document(const char *text)
{
	const char *p = text;
	while (isspace((unsigned char)*p))
		p++;
	return *p == '{' ? xstrdup(p) : iam_url_decode(p);
}

int iam_role_policies(struct aws_json_client *iam, const char *role_name, int64_t deadline_ms,
		      struct iam_policies *out, struct sfn_reply *reply, const char **failed_action)
{
	char **names = NULL, **arns = NULL;
	size_t n_names = 0, n_arns = 0;
	int rc = -1;
	memset(out, 0, sizeof *out);
	*failed_action = "iam:ListRolePolicies";
	if (query(iam, "ListRolePolicies", "RoleName", role_name, NULL, NULL, deadline_ms, reply) != 0)
		goto out;
	n_names = xml_all(buf_cstr(&reply->body), "member", &names);
	for (size_t i = 0; i < n_names; i++) {
		*failed_action = "iam:GetRolePolicy";
		if (query(iam, "GetRolePolicy", "RoleName", role_name, "PolicyName", names[i], deadline_ms, reply) != 0)
			goto out;
		char **doc;
		if (xml_all(buf_cstr(&reply->body), "PolicyDocument", &doc) > 0)
			add_doc(out, document(doc[0]));
		free_all(doc, doc ? 1 : 0);
	}
	*failed_action = "iam:ListAttachedRolePolicies";
	if (query(iam, "ListAttachedRolePolicies", "RoleName", role_name, NULL, NULL, deadline_ms, reply) != 0)
		goto out;
	n_arns = xml_all(buf_cstr(&reply->body), "PolicyArn", &arns);
	for (size_t i = 0; i < n_arns; i++) {
		*failed_action = "iam:GetPolicy";
		if (query(iam, "GetPolicy", "PolicyArn", arns[i], NULL, NULL, deadline_ms, reply) != 0)
			goto out;
		char **version;
		size_t nv = xml_all(buf_cstr(&reply->body), "DefaultVersionId", &version);
		if (nv == 0)
			continue;
		*failed_action = "iam:GetPolicyVersion";
		int qrc = query(iam, "GetPolicyVersion", "PolicyArn", arns[i], "VersionId", version[0], deadline_ms, reply);
		free_all(version, nv);
		if (qrc != 0)
			goto out;
		char **doc;
		size_t nd = xml_all(buf_cstr(&reply->body), "Document", &doc);
		if (nd > 0)
			add_doc(out, document(doc[0]));
		free_all(doc, nd);
	}
	*failed_action = NULL;
	rc = 0;
out:
	free_all(names, n_names);
	free_all(arns, n_arns);
	if (rc != 0)
		iam_policies_free(out);
	return rc;
}

/* IAM's wildcards: * any run, ? one character. */
static bool glob(const char *pat, const char *s, bool nocase)
{
	while (*pat) {
		if (*pat == '*') {
			while (*pat == '*')
				pat++;
			if (!*pat)
				return true;
			for (; *s; s++)
				if (glob(pat, s, nocase))
					return true;
			return false;
		}
		if (!*s)
			return false;
		bool same = nocase ? tolower((unsigned char)*pat) == tolower((unsigned char)*s) : *pat == *s;
		if (*pat != '?' && !same)
			return false;
		pat++, s++;
	}
	return !*s;
}

/* A string or an array of strings, any of which matches. */
static bool any_match(const cJSON *v, const char *s, bool nocase)
{
	if (cJSON_IsString(v))
		return glob(v->valuestring, s, nocase);
	const cJSON *list = cJSON_IsArray(v) ? v : NULL;
	const cJSON *item;
	cJSON_ArrayForEach(item, list)
		if (cJSON_IsString(item) && glob(item->valuestring, s, nocase))
			return true;
	return false;
}

enum iam_verdict iam_evaluate(const struct iam_policies *p, const char *action, const char *resource, char *why,
			      size_t why_size)
{
	bool allowed = false, unsure = false;
	snprintf(why, why_size, "%s", "");
	for (size_t i = 0; i < p->n; i++) {
		cJSON *doc = cJSON_Parse(p->docs[i]);
		const cJSON *sts = cJSON_GetObjectItemCaseSensitive(doc, "Statement");
		cJSON *one = NULL;
		if (cJSON_IsObject(sts)) {
			one = cJSON_CreateArray();
			cJSON_AddItemReferenceToArray(one, (cJSON *)sts);
			sts = one;
		}
		const cJSON *list = cJSON_IsArray(sts) ? sts : NULL;
		const cJSON *st;
		cJSON_ArrayForEach(st, list) {
			const cJSON *effect = cJSON_GetObjectItemCaseSensitive(st, "Effect");
			bool deny = cJSON_IsString(effect) && strcmp(effect->valuestring, "Deny") == 0;
			if (cJSON_GetObjectItemCaseSensitive(st, "NotAction") ||
			    cJSON_GetObjectItemCaseSensitive(st, "NotResource")) {
				unsure = true;
				snprintf(why, why_size, "a statement with NotAction or NotResource");
				continue;
			}
			if (!any_match(cJSON_GetObjectItemCaseSensitive(st, "Action"), action, true) ||
			    !any_match(cJSON_GetObjectItemCaseSensitive(st, "Resource"), resource, false))
				continue;
			if (deny) {
				unsure = true;
				snprintf(why, why_size, "a Deny statement that covers it");
			} else if (cJSON_GetObjectItemCaseSensitive(st, "Condition")) {
				unsure = true;
				snprintf(why, why_size, "the Allow that covers it has a Condition");
			} else {
				allowed = true;
			}
		}
		cJSON_Delete(one);
		cJSON_Delete(doc);
	}
	if (unsure)
		return IAM_CANNOT_TELL;
	return allowed ? IAM_ALLOWED : IAM_DENIED;
}

char *iam_role_name(const char *role_arn)
{
	const char *p = strstr(role_arn ? role_arn : "", ":role/");
	if (!p)
		return NULL;
	const char *slash = strrchr(p, '/');
	return slash[1] ? xstrdup(slash + 1) : NULL;
}
