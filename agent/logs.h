/* Following CloudWatch Logs streams (GetLogEvents), for `start --logs`.
 *
 * Each stream is read from its head and then from the forward token of the
 * last page, so a line is printed once and none is skipped, however the
 * reads fall between the writes.  A stream that does not exist yet (the
 * container has not started) is asked for again at the next poll. */
#ifndef SFN_LOGS_H
#define SFN_LOGS_H

#include "agent/aws_json.h"

#include <stddef.h>

struct logs_follower;

/* Takes ownership of c (a client for aws_service_logs). */
struct logs_follower *logs_follower_new(struct aws_json_client *c);
void logs_follower_free(struct logs_follower *f);

/* Follows group/stream from now on; label is handed back with each line. */
void logs_follower_add(struct logs_follower *f, const char *group, const char *stream, const char *label);
/* Whether group/stream is followed already. */
bool logs_follower_has(const struct logs_follower *f, const char *group, const char *stream);

typedef void (*logs_emit_fn)(void *ctx, const char *label, const char *message, size_t len);

/* Reads what every stream has that was not read yet, every page, and hands
 * each event to emit, stream by stream, in order.  0, or -1 with reply
 * filled in by the first call that failed (other streams are still read). */
int logs_follower_poll(struct logs_follower *f, int64_t deadline_ms, logs_emit_fn emit, void *ctx,
		       struct sfn_reply *reply);

#endif
