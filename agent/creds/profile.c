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

/* A key of a profile: the credentials file's section first, then the config
 * file's, as botocore merges them. */
static bool pget(const struct shared_files *f, const char *profile, const char *key, struct buf *out)
{
	return cred_lookup(&f->cred, profile, key, out) || conf_lookup(&f->conf, profile, key, out);
}

/* A role chain longer than this is a mistake (AWS itself allows a chained
 * session one hour at most, and no one nests ten). */
#define CHAIN_MAX 10

struct resolver {
	const struct creds_ctx *ctx;
	struct shared_files f;
	const char *path[CHAIN_MAX + 1]; /* the profiles being resolved, outermost first */
	int depth;
};

static enum creds_result resolve(struct resolver *r, const char *profile, struct creds *out, struct err *err);

/* Static keys of a profile, from the one file given (the other is not mixed
 * in).  CREDS_NOT_HERE when it has neither key. */
static enum creds_result static_keys(const struct shared_file *file, bool conf, const char *profile,
				     struct creds *out, struct err *err)
{
	struct buf ak = BUF_INIT, sk = BUF_INIT, tok = BUF_INIT;
	enum creds_result res = CREDS_NOT_HERE;
	bool (*get)(const struct shared_file *, const char *, const char *, struct buf *) =
	    conf ? conf_lookup : cred_lookup;
	/* Both looked up, so that half a pair is reported. */
	bool has_ak = get(file, profile, "aws_access_key_id", &ak);
	bool has_sk = get(file, profile, "aws_secret_access_key", &sk);
	if (!has_ak && !has_sk)
		goto out;
	res = CREDS_FAILED;
	if (ak.len == 0 || sk.len == 0) {
		err_set(err, "the AWS profile \"%s\" in %s has %s but no %s: add it", profile, file->path,
			ak.len ? "aws_access_key_id" : "aws_secret_access_key",
			ak.len ? "aws_secret_access_key" : "aws_access_key_id");
		goto out;
	}
	get(file, profile, "aws_session_token", &tok);
	out->access_key = buf_steal(&ak);
	out->secret_key = buf_steal(&sk);
	out->session_token = tok.len ? buf_steal(&tok) : NULL;
	out->expires_ms = 0;
	log_debug("credentials: profile \"%s\" from %s", profile, file->path);
	res = CREDS_OK;
out:
	buf_free(&ak);
	buf_free_secret(&sk);
	buf_free_secret(&tok);
	return res;
}

static bool has_static_keys(const struct resolver *r, const char *profile)
{
	struct buf scratch = BUF_INIT;
	bool has = pget(&r->f, profile, "aws_access_key_id", &scratch) ||
		   pget(&r->f, profile, "aws_secret_access_key", &scratch);
	buf_free_secret(&scratch);
	return has;
}

static enum creds_result any_static(struct resolver *r, const char *profile, struct creds *out, struct err *err)
{
	enum creds_result res = static_keys(&r->f.cred, false, profile, out, err);
	return res == CREDS_NOT_HERE ? static_keys(&r->f.conf, true, profile, out, err) : res;
}

/* credential_source: where the source credentials of a role come from when
 * not from another profile. */
static enum creds_result credential_source(struct resolver *r, const char *profile, const char *src,
					   struct creds *out, struct err *err)
{
	static const struct {
		const char *name;
		const struct creds_provider *p;
		const char *needs;
	} sources[] = {
	    {"Environment", &creds_env_provider, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
	    {"EcsContainer", &creds_ecs_provider,
	     "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or AWS_CONTAINER_CREDENTIALS_FULL_URI (an ECS task)"},
	    {"Ec2InstanceMetadata", &creds_imds_provider, "an EC2 instance with a role"},
	};
	for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++) {
		if (strcmp(src, sources[i].name) != 0)
			continue;
		struct err perr = {""};
		enum creds_result res = sources[i].p->fetch(r->ctx, out, &perr);
		if (res == CREDS_NOT_HERE) {
			err_set(err, "the AWS profile \"%s\" has credential_source = %s, which needs %s", profile, src,
				sources[i].needs);
			return CREDS_FAILED;
		}
		if (res == CREDS_FAILED)
			err_set(err, "the AWS profile \"%s\" (credential_source = %s): %s", profile, src, perr.msg);
		return res;
	}
	err_set(err,
		"the AWS profile \"%s\" has credential_source = \"%.64s\": use Environment, EcsContainer or "
		"Ec2InstanceMetadata",
		profile, src);
	return CREDS_FAILED;
}

static enum creds_result assume(struct resolver *r, const char *profile, const char *role_arn, struct creds *out,
				struct err *err)
{
	struct buf src = BUF_INIT, csrc = BUF_INIT, name = BUF_INIT, ext = BUF_INIT, dur = BUF_INIT,
		   region = BUF_INIT, scratch = BUF_INIT;
	struct creds source = {0};
	enum creds_result res = CREDS_FAILED;

	if (pget(&r->f, profile, "mfa_serial", &scratch)) {
		err_set(err,
			"the AWS profile \"%s\" has mfa_serial, which needs a code typed at a prompt sfn-agent does "
			"not have: drop mfa_serial, or assume the role beforehand and pass its keys",
			profile);
		goto out;
	}
	bool has_src = pget(&r->f, profile, "source_profile", &src) && src.len;
	bool has_csrc = pget(&r->f, profile, "credential_source", &csrc) && csrc.len;
	if (has_src && has_csrc) {
		err_set(err, "the AWS profile \"%s\" has both source_profile and credential_source: keep one", profile);
		goto out;
	}
	if (!has_src && !has_csrc) {
		err_set(err,
			"the AWS profile \"%s\" has role_arn but neither source_profile nor credential_source: add "
			"one, to say whose credentials assume the role",
			profile);
		goto out;
	}
	if (has_csrc) {
		res = credential_source(r, profile, csrc.data, &source, err);
	} else if (strcmp(src.data, profile) == 0) {
		/* botocore allows a profile to be its own source when it holds
		 * the keys itself. */
		res = any_static(r, profile, &source, err);
		if (res == CREDS_NOT_HERE) {
			err_set(err, "the AWS profile \"%s\" is its own source_profile but has no keys: fix source_profile",
				profile);
			res = CREDS_FAILED;
		}
	} else {
		res = resolve(r, src.data, &source, err);
		if (res == CREDS_NOT_HERE) {
			err_set(err, "source_profile \"%s\" of the AWS profile \"%s\" has no credentials: give it keys, "
				     "a role_arn, credential_process or SSO",
				src.data, profile);
			res = CREDS_FAILED;
		}
	}
	if (res != CREDS_OK)
		goto out;
	res = CREDS_FAILED;

	struct creds_assume_role a = {.profile = profile, .role_arn = role_arn};
	if (pget(&r->f, profile, "role_session_name", &name) && name.len)
		a.session_name = name.data;
	if (pget(&r->f, profile, "external_id", &ext) && ext.len)
		a.external_id = ext.data;
	if (pget(&r->f, profile, "duration_seconds", &dur) && dur.len) {
		char *end;
		long d = strtol(dur.data, &end, 10);
		/* STS's own bounds: 15 minutes to 12 hours (the role's maximum
		 * may be lower; STS says so then). */
		if (*end || d < 900 || d > 43200) {
			err_set(err,
				"the AWS profile \"%s\" has duration_seconds = \"%.32s\": give a whole number of "
				"seconds from 900 to 43200",
				profile, dur.data);
			goto out;
		}
		a.duration_s = (int)d;
	}
	if (conf_lookup(&r->f.conf, profile, "region", &region) && region.len)
		a.region = region.data;
	if (creds_assume_role(r->ctx, &a, &source, out, err) == 0)
		res = CREDS_OK;
out:
	creds_clear(&source);
	buf_free(&src);
	buf_free(&csrc);
	buf_free(&name);
	buf_free(&ext);
	buf_free(&dur);
	buf_free(&region);
	buf_free(&scratch);
	return res;
}

static enum creds_result sso(struct resolver *r, const char *profile, struct creds *out, struct err *err)
{
	struct buf session = BUF_INIT, url = BUF_INIT, region = BUF_INIT, account = BUF_INIT, role = BUF_INIT,
		   section = BUF_INIT;
	enum creds_result res = CREDS_FAILED;
	struct creds_sso s = {.profile = profile};

	if (pget(&r->f, profile, "sso_session", &session) && session.len) {
		/* The start URL and region live in [sso-session NAME]. */
		buf_printf(&section, "sso-session %s", session.data);
		struct span text = span_of(r->f.conf.text.data, r->f.conf.text.len);
		if (!r->f.conf.present || !ini_has_section(text, section.data)) {
			err_set(err, "the AWS profile \"%s\" names sso_session \"%s\" but %s has no [sso-session %s]: add it",
				profile, session.data, r->f.conf.path ? r->f.conf.path : "~/.aws/config", session.data);
			goto out;
		}
		ini_lookup(text, section.data, "sso_start_url", &url);
		ini_lookup(text, section.data, "sso_region", &region);
		s.session_name = session.data;
	} else {
		pget(&r->f, profile, "sso_start_url", &url);
		pget(&r->f, profile, "sso_region", &region);
	}
	pget(&r->f, profile, "sso_account_id", &account);
	pget(&r->f, profile, "sso_role_name", &role);
	const char *missing = !url.len ? "sso_start_url" : !region.len ? "sso_region"
				  : !account.len ? "sso_account_id" : !role.len ? "sso_role_name" : NULL;
	if (missing) {
		err_set(err, "the AWS profile \"%s\" uses SSO but has no %s%s: add it (aws configure sso writes them all)",
			profile, missing,
			s.session_name && (!url.len || !region.len) ? " in its [sso-session]" : "");
		goto out;
	}
	s.start_url = url.data;
	s.sso_region = region.data;
	s.account_id = account.data;
	s.role_name = role.data;
	if (creds_sso_fetch(r->ctx, &s, out, err) == 0)
		res = CREDS_OK;
out:
	buf_free(&session);
	buf_free(&url);
	buf_free(&region);
	buf_free(&account);
	buf_free(&role);
	buf_free(&section);
	return res;
}

/* One profile, in botocore's order: role_arn (with web_identity_token_file:
 * not supported), SSO, keys in the credentials file, credential_process, keys
 * in the config file.  A profile reached as a source_profile uses its own keys
 * first, as botocore does. */
/* The profile was asked for (--profile or AWS_PROFILE), not taken by
 * default: yielding nothing is then an error, not a reason to go on. */
static bool named_by_user(const struct sys *sys)
{
	const char *p = sys_env(sys, "AWS_PROFILE");
	return creds_profile_explicit() || (p && *p);
}

/* Any of the SSO keys: a profile with sso_account_id but no start URL is an
 * SSO profile missing a key, said as such. */
static bool uses_sso(const struct resolver *r, const char *profile)
{
	static const char *const keys[] = {"sso_account_id", "sso_role_name", "sso_region"};
	struct buf scratch = BUF_INIT;
	bool has = false;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !has; i++)
		has = pget(&r->f, profile, keys[i], &scratch);
	buf_free(&scratch);
	return has;
}

static enum creds_result resolve(struct resolver *r, const char *profile, struct creds *out, struct err *err)
{
	struct buf v = BUF_INIT, where = BUF_INIT;
	enum creds_result res = CREDS_FAILED;
	bool as_source = r->depth > 0;

	for (int i = 0; i < r->depth; i++) {
		if (strcmp(r->path[i], profile) == 0) {
			buf_puts(&where, r->path[i]);
			for (int j = i + 1; j < r->depth; j++)
				buf_printf(&where, " -> %s", r->path[j]);
			err_set(err, "the AWS profiles' source_profile settings form a loop (%s -> %s): break it", where.data,
				profile);
			goto out;
		}
	}
	/* The profile asked for plus CHAIN_MAX source_profile steps. */
	if (r->depth > CHAIN_MAX) {
		err_set(err, "the AWS profile \"%s\" is reached through more than %d source_profile steps: shorten the chain",
			r->path[0], CHAIN_MAX);
		goto out;
	}
	if (!cred_lookup(&r->f.cred, profile, NULL, NULL) && !conf_lookup(&r->f.conf, profile, NULL, NULL)) {
		files_sentence(&r->f, &where);
		if (as_source)
			err_set(err, "source_profile \"%s\" of the AWS profile \"%s\" does not exist in %s: fix source_profile",
				profile, r->path[r->depth - 1], where.data);
		else if (strcmp(profile, "default") != 0 || named_by_user(r->ctx->sys))
			err_set(err, "%s is \"%s\" but there is no such profile in %s: fix %s or add the profile",
				creds_profile_explicit() ? "--profile" : "AWS_PROFILE", profile, where.data,
				creds_profile_explicit() ? "--profile" : "AWS_PROFILE");
		else
			res = CREDS_NOT_HERE;
		goto out;
	}
	r->path[r->depth++] = profile;

	if (as_source && has_static_keys(r, profile)) {
		res = any_static(r, profile, out, err);
	} else if (pget(&r->f, profile, "role_arn", &v) && v.len) {
		struct buf wif = BUF_INIT;
		/* role_arn with web_identity_token_file is botocore's web
		 * identity profile (without role_arn the key is ignored). */
		if (pget(&r->f, profile, "web_identity_token_file", &wif))
			err_set(err,
				"the AWS profile \"%s\" uses web_identity_token_file, which sfn-agent does not support "
				"in a profile: set AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN instead",
				profile);
		else
			res = assume(r, profile, v.data, out, err);
		buf_free(&wif);
	} else if ((pget(&r->f, profile, "sso_session", &v) && v.len) ||
		   (pget(&r->f, profile, "sso_start_url", &v) && v.len) || uses_sso(r, profile)) {
		res = sso(r, profile, out, err);
	} else if ((res = static_keys(&r->f.cred, false, profile, out, err)) != CREDS_NOT_HERE) {
		/* keys in the credentials file, or half a pair there */
	} else if (pget(&r->f, profile, "credential_process", &v) && v.len) {
		res = creds_process_fetch(r->ctx, profile, v.data, out, err) == 0 ? CREDS_OK : CREDS_FAILED;
	} else if (pget(&r->f, profile, "credential_process", &v)) {
		err_set(err, "the AWS profile \"%s\" has an empty credential_process: give the command to run", profile);
		res = CREDS_FAILED;
	} else {
		res = static_keys(&r->f.conf, true, profile, out, err);
		if (res == CREDS_NOT_HERE && !as_source && named_by_user(r->ctx->sys)) {
			/* A misspelt key must not fall through to other, perhaps
			 * more powerful, credentials (the container's role). */
			err_set(err,
				"the AWS profile \"%s\" has no credentials: it needs aws_access_key_id and "
				"aws_secret_access_key, role_arn, credential_process or sso_session (check the spelling "
				"of its keys)",
				profile);
			res = CREDS_FAILED;
		} else if (res == CREDS_NOT_HERE) {
			/* A profile with only settings such as region. */
			err_set(err, "the AWS profile \"%s\" has no credentials in it", profile);
		}
	}
	r->depth--;
	if (res == CREDS_OK) {
		buf_reset(&where);
		buf_printf(&where, "the AWS profile \"%s\"", profile);
	}
	if (res == CREDS_OK && creds_check_printable(out, where.data, err) != 0) {
		creds_clear(out);
		res = CREDS_FAILED;
	}
out:
	buf_free(&v);
	buf_free(&where);
	return res;
}

static enum creds_result profile_fetch(const struct creds_ctx *ctx, struct creds *out, struct err *err)
{
	struct resolver r = {.ctx = ctx};
	const char *profile = ctx->profile && *ctx->profile ? ctx->profile : "default";
	enum creds_result res = CREDS_FAILED;

	if (load_files(ctx->sys, &r.f, err) == 0)
		res = resolve(&r, profile, out, err);
	free_files(&r.f);
	return res;
}

const struct creds_provider creds_profile_provider = {"profile", profile_fetch};

char *creds_profile_region(const struct sys *sys)
{
	struct shared_files f;
	struct buf region = BUF_INIT;
	const char *profile = creds_profile_name(sys);
	char *r = NULL;

	if (load_files(sys, &f, NULL) == 0 && conf_lookup(&f.conf, profile, "region", &region) && region.len)
		r = buf_steal(&region);
	buf_free(&region);
	free_files(&f);
	return r;
}
