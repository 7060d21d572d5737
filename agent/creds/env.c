/* Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN. */
#include "agent/creds/creds.h"

#include "base/log.h"

static enum creds_result env_fetch(const struct creds_ctx *ctx, struct creds *out, struct err *err)
{
	const char *ak = sys_env(ctx->sys, "AWS_ACCESS_KEY_ID");
	const char *sk = sys_env(ctx->sys, "AWS_SECRET_ACCESS_KEY");
	const char *tok = sys_env(ctx->sys, "AWS_SESSION_TOKEN");

	if (!ak && !sk) {
		/* The SDKs ignore a lone session token too: a stale one left in
		 * an image must not hide the task role. */
		if (tok)
			log_warn(
			    "AWS_SESSION_TOKEN is set without AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; "
			    "ignoring it");
		(void)err;
		return CREDS_NOT_HERE;
	}
	/* Half a key pair is a mistake in the task definition: say which half
	 * rather than falling through to some other identity. */
	if (!ak) {
		err_set(err,
			"AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both, or neither");
		return CREDS_FAILED;
	}
	if (!sk) {
		err_set(err,
			"AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or neither");
		return CREDS_FAILED;
	}
	out->access_key = xstrdup(ak);
	out->secret_key = xstrdup(sk);
	out->session_token = tok ? xstrdup(tok) : NULL;
	out->expires_ms = 0;
	return CREDS_OK;
}

const struct creds_provider creds_env_provider = {"environment", env_fetch};
