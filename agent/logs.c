#include "agent/logs.h"

#include "base/buf.h"
#include "base/json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PAGES_PER_POLL 100 /* 1 MB each: a poll never stalls the progress for long */

struct followed_stream {
	char *group, *stream, *label;
	char *next_token; /* NULL: from the head */
};

struct logs_follower {
	struct aws_json_client *client;
	struct followed_stream *streams;
	size_t n, cap;
};

struct logs_follower *logs_follower_new(struct aws_json_client *c)
{
	struct logs_follower *f = xcalloc(1, sizeof *f);
	f->client = c;
	return f;
}

void logs_follower_free(struct logs_follower *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->streams[i].group);
		free(f->streams[i].stream);
		free(f->streams[i].label);
		free(f->streams[i].next_token);
	}
	free(f->streams);
	aws_json_client_free(f->client);
	free(f);
}

bool logs_follower_has(const struct logs_follower *f, const char *group, const char *stream)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->streams[i].group, group) == 0 && strcmp(f->streams[i].stream, stream) == 0)
			return true;
	return false;
}

void logs_follower_add(struct logs_follower *f, const char *group, const char *stream, const char *label)
{
	if (logs_follower_has(f, group, stream))
		return;
	f->streams = array_reserve(f->streams, f->n, &f->cap, sizeof *f->streams);
	struct followed_stream *s = &f->streams[f->n++];
	s->group = xstrdup(group);
	s->stream = xstrdup(stream);
	s->label = xstrdup(label);
	s->next_token = NULL;
}

/* One page; 1 when there may be more, 0 at the end, -1 on failure. */
static int read_page(struct logs_follower *f, struct followed_stream *s, int64_t deadline_ms, logs_emit_fn emit,
		     void *ctx, struct sfn_reply *reply)
{
	struct buf body = BUF_INIT;
	buf_puts(&body, "{\"logGroupName\":");
	json_append_string(&body, span_str(s->group));
	buf_puts(&body, ",\"logStreamName\":");
	json_append_string(&body, span_str(s->stream));
	buf_puts(&body, ",\"startFromHead\":true");
	if (s->next_token) {
		buf_puts(&body, ",\"nextToken\":");
		json_append_string(&body, span_str(s->next_token));
	}
	buf_putc(&body, '}');
	int rc = aws_json_call(f->client, "GetLogEvents", buf_cstr(&body), deadline_ms, reply);
	buf_free(&body);
	if (rc != 0)
		/* The stream appears when the container first writes. */
		return strcmp(reply->code, "ResourceNotFoundException") == 0 ? 0 : -1;
	cJSON *root = cJSON_ParseWithLength(reply->body.data ? reply->body.data : "", reply->body.len);
	const cJSON *events = cJSON_GetObjectItemCaseSensitive(root, "events");
	const cJSON *token = cJSON_GetObjectItemCaseSensitive(root, "nextForwardToken");
	size_t n = 0;
	const cJSON *ev;
	cJSON_ArrayForEach(ev, events) {
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ev, "message");
		if (cJSON_IsString(msg)) {
			emit(ctx, s->label, msg->valuestring, strlen(msg->valuestring));
			n++;
		}
	}
	/* At the end of the stream the same token comes back. */
	bool more = false;
	if (cJSON_IsString(token) && *token->valuestring) {
		more = n > 0 && (!s->next_token || strcmp(s->next_token, token->valuestring) != 0);
		free(s->next_token);
		s->next_token = xstrdup(token->valuestring);
	}
	cJSON_Delete(root);
	return more ? 1 : 0;
}

int logs_follower_poll(struct logs_follower *f, int64_t deadline_ms, logs_emit_fn emit, void *ctx,
		       struct sfn_reply *reply)
{
	int result = 0;
	struct sfn_reply scratch = { 0 };
	for (size_t i = 0; i < f->n; i++) {
		for (int page = 0; page < MAX_PAGES_PER_POLL; page++) {
			int rc = read_page(f, &f->streams[i], deadline_ms, emit, ctx, result ? &scratch : reply);
			if (rc < 0)
				result = -1;
			if (rc <= 0)
				break;
		}
	}
	sfn_reply_free(&scratch);
	return result;
}
