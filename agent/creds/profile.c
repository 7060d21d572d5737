/* Credentials (and the region) from the shared files: ~/.aws/credentials
 * and ~/.aws/config, or wherever AWS_SHARED_CREDENTIALS_FILE and
 * AWS_CONFIG_FILE point. */
#include "agent/creds/creds.h"

#include "agent/creds/ini.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

/* Generous for a file of keys, small enough that a wrong path to a big file
 * is caught. */
#define SHARED_FILE_MAX (1024 * 1024)

struct shared_file {
	char *path;	/* NULL: no path (no variable and no HOME) */
	bool explicit_; /* named by its variable */
	bool present;
	struct buf text;
};

struct shared_files {
	struct shared_file cred, conf;
};

static char *shared_path(const struct sys *sys, const char *var, const char *name, bool *explicit_)
{
	const char *v = sys_env(sys, var);
	const char *home = sys_env(sys, "HOME");
	struct buf b = BUF_INIT;

	*explicit_ = v != NULL;
	if (v && v[0] == '~' && v[1] == '/' && home)
		buf_printf(&b, "%s%s", home, v + 1);
	else if (v)
		buf_puts(&b, v);
	else if (home)
		buf_printf(&b, "%s/.aws/%s", home, name);
	else
		return NULL;
	return buf_steal(&b);
}

/* 0, or -1 with err when a file named by its variable cannot be read. */
static int load_one(const struct sys *sys, struct shared_file *f, const char *var, const char *name,
		    struct err *err)
{
	f->path = shared_path(sys, var, name, &f->explicit_);
	if (!f->path)
		return 0;
	struct err rerr;
	int r = creds_read_file(f->path, SHARED_FILE_MAX, &f->text, &rerr);
	if (r == 0) {
		f->present = true;
		return 0;
	}
	if (r == 1)
		return 0;
	if (f->explicit_)
		return err_set(err, "%s (from %s)", rerr.msg, var);
	/* A default file we cannot read (another user's home) should not stop a
	 * task that runs with a task role. */
	log_warn("ignoring the AWS shared file: %s", rerr.msg);
	return 0;
}

static int load_files(const struct sys *sys, struct shared_files *f, struct err *err)
{
	memset(f, 0, sizeof *f);
	if (load_one(sys, &f->cred, "AWS_SHARED_CREDENTIALS_FILE", "credentials", err) != 0)
		return -1;
	return load_one(sys, &f->conf, "AWS_CONFIG_FILE", "config", err);
}

static void free_file(struct shared_file *f)
{
	/* The credentials file holds secrets. */
	buf_free_secret(&f->text);
	free(f->path);
}

static void free_files(struct shared_files *f)
{
	free_file(&f->cred);
	free_file(&f->conf);
}

/* The profile's section in the config file: "[profile NAME]", except
 * "[default]" (the SDKs accept "[profile default]" too). */
static bool conf_lookup(const struct shared_file *f, const char *profile, const char *key, struct buf *out)
{
	if (!f->present)
		return false;
	struct span text = span_of(f->text.data, f->text.len);
	struct buf section = BUF_INIT;
	bool found = false;
	buf_printf(&section, "profile %s", profile);
	if (strcmp(profile, "default") == 0) {
		/* The two spellings may both exist; "[default]" wins, as in
		 * botocore. */
		found =
		    key ? ini_lookup(text, "default", key, out) || ini_lookup(text, section.data, key, out)
			: ini_has_section(text, "default") || ini_has_section(text, section.data);
	} else {
		found = key ? ini_lookup(text, section.data, key, out) : ini_has_section(text, section.data);
	}
	buf_free(&section);
	return found;
}

static bool cred_lookup(const struct shared_file *f, const char *profile, const char *key, struct buf *out)
{
	if (!f->present)
		return false;
	struct span text = span_of(f->text.data, f->text.len);
	return key ? ini_lookup(text, profile, key, out) : ini_has_section(text, profile);
}

static void files_sentence(const struct shared_files *f, struct buf *b)
{
	const char *cred = f->cred.path ? f->cred.path : "~/.aws/credentials";
	const char *conf = f->conf.path ? f->conf.path : "~/.aws/config";
	buf_printf(b, "%s%s or %s%s", cred, f->cred.present ? "" : " (missing)", conf,
		   f->conf.present ? "" : " (missing)");
}

/* Keys that name a way of getting credentials we do not implement. */
static const char *const unsupported_keys[] = {
    "role_arn", "credential_process", "sso_session", "sso_start_url", "web_identity_token_file",
};

static enum creds_result profile_fetch(const struct creds_ctx *ctx, struct creds *out, struct err *err)
{
	struct shared_files f;
	struct buf ak = BUF_INIT, sk = BUF_INIT, tok = BUF_INIT, where = BUF_INIT;
	enum creds_result r = CREDS_FAILED;
	const char *profile = ctx->profile && *ctx->profile ? ctx->profile : "default";
	const char *named = sys_env(ctx->sys, "AWS_PROFILE");

	if (load_files(ctx->sys, &f, err) != 0)
		goto out;

	bool in_cred = cred_lookup(&f.cred, profile, NULL, NULL);
	bool in_conf = conf_lookup(&f.conf, profile, NULL, NULL);
	if (!in_cred && !in_conf) {
		if (named && strcmp(named, "default") != 0) {
			files_sentence(&f, &where);
			err_set(err,
				"AWS_PROFILE is \"%s\" but there is no such profile in %s: fix AWS_PROFILE "
				"or add the profile",
				profile, where.data);
			goto out;
		}
		r = CREDS_NOT_HERE;
		goto out;
	}

	/* The credentials file wins over the config file, as a whole: mixing a
	 * key from one with a token from the other would never work. */
	const struct shared_file *src = NULL;
	if (in_cred) {
		/* Both looked up, so that half a pair is reported below. */
		bool has_ak = cred_lookup(&f.cred, profile, "aws_access_key_id", &ak);
		bool has_sk = cred_lookup(&f.cred, profile, "aws_secret_access_key", &sk);
		if (has_ak || has_sk) {
			src = &f.cred;
			cred_lookup(&f.cred, profile, "aws_session_token", &tok);
		}
	}
	if (!src && in_conf) {
		bool has_ak = conf_lookup(&f.conf, profile, "aws_access_key_id", &ak);
		bool has_sk = conf_lookup(&f.conf, profile, "aws_secret_access_key", &sk);
		if (has_ak || has_sk) {
			src = &f.conf;
			conf_lookup(&f.conf, profile, "aws_session_token", &tok);
		}
	}

	if (!src) {
		struct buf scratch = BUF_INIT;
		for (size_t i = 0; i < sizeof unsupported_keys / sizeof unsupported_keys[0]; i++) {
			const char *k = unsupported_keys[i];
			if (cred_lookup(&f.cred, profile, k, &scratch) ||
			    conf_lookup(&f.conf, profile, k, &scratch)) {
				buf_free(&scratch);
				err_set(
				    err,
				    "the AWS profile \"%s\" uses %s, which sfn-agent does not support: give "
				    "it aws_access_key_id and aws_secret_access_key, or use a task role",
				    profile, k);
				goto out;
			}
		}
		buf_free(&scratch);
		/* A profile with only settings such as region. */
		err_set(err, "the AWS profile \"%s\" has no aws_access_key_id", profile);
		r = CREDS_NOT_HERE;
		goto out;
	}
	if (ak.len == 0 || sk.len == 0) {
		err_set(err, "the AWS profile \"%s\" in %s has %s but no %s: add it", profile, src->path,
			ak.len ? "aws_access_key_id" : "aws_secret_access_key",
			ak.len ? "aws_secret_access_key" : "aws_access_key_id");
		goto out;
	}
	out->access_key = buf_steal(&ak);
	out->secret_key = buf_steal(&sk);
	out->session_token = tok.len ? buf_steal(&tok) : NULL;
	out->expires_ms = 0;
	log_debug("credentials: profile \"%s\" from %s", profile, src->path);
	r = CREDS_OK;
out:
	buf_free(&ak);
	buf_free_secret(&sk);
	buf_free_secret(&tok);
	buf_free(&where);
	free_files(&f);
	return r;
}

const struct creds_provider creds_profile_provider = {"profile", profile_fetch};

char *creds_profile_region(const struct sys *sys)
{
	struct shared_files f;
	struct buf region = BUF_INIT;
	const char *profile = sys_env(sys, "AWS_PROFILE");
	char *r = NULL;

	if (load_files(sys, &f, NULL) == 0 &&
	    conf_lookup(&f.conf, profile ? profile : "default", "region", &region) && region.len)
		r = buf_steal(&region);
	buf_free(&region);
	free_files(&f);
	return r;
}
