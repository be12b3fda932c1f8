/*
 * test_local_keys.c - unit tests for src/local_keys.c: the key file's
 * generate/load round trip and modes, refused files, one key for racing
 * processes, and tokens that the project's own verifier (src/oidc.c)
 * accepts against local_keys_jwks() with exactly Google's claims.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckrun.h"
#include "b64.h"
#include "config.h"
#include "jwk.h"
#include "jwks.h"
#include "local_keys.h"
#include "log.h"
#include "oidc.h"
#include "proc.h"
#include "timeutil.h"

#define NOW ((int64_t)1800000000)
#define AUD "http://127.0.0.1:8080"
#define EMAIL "local-tasks@catchup-jobs.local"

static char *iss_items[] = {"https://accounts.google.com", "accounts.google.com"};
static char *aud_items[] = {AUD};
static char *allowed_items[] = {EMAIL};
static const struct strlist issuers = {iss_items, 2};
static const struct strlist audiences = {aud_items, 1};
static const struct strlist allowed = {allowed_items, 1};

static char *path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	ck_assert_ptr_nonnull(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static struct local_keys *load(const char *dir)
{
	struct local_keys *k = NULL;
	char err[512] = "";
	int rc = local_keys_load_or_generate(dir, &k, err, sizeof(err));

	ck_assert_msg(rc == CJ_OK, "load: %s: %s", cj_strerror(rc), err);
	ck_assert_ptr_nonnull(k);
	return k;
}

/* The JSON of one token segment (0 header, 1 claims). */
static json_t *segment(const char *tok, int which)
{
	const char *start = tok, *end;
	unsigned char *raw;
	size_t n;
	json_t *j;

	for (int i = 0; i < which; i++)
		start = strchr(start, '.') + 1;
	end = strchr(start, '.');
	ck_assert_ptr_nonnull(end);
	ck_assert_int_eq(b64url_decode(start, (size_t)(end - start), &raw, &n), CJ_OK);
	j = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	ck_assert_ptr_nonnull(j);
	return j;
}

static int verify(struct jwks *jw, const char *tok, int64_t now, struct oidc_identity *who,
                  const char **reason)
{
	struct oidc *vf = oidc_new(jw, &issuers, &audiences);
	char auth[OIDC_MAX_TOKEN + 16];
	int rc;

	ck_assert_ptr_nonnull(vf);
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	rc = oidc_verify(vf, auth, &allowed, now, who, reason);
	oidc_free(vf);
	return rc;
}

START_TEST(generate_then_load_same_key)
{
	char *tmp = make_temp_dir(), *dir = path_in(tmp, "a/data"), *file;
	struct local_keys *a, *b;
	json_t *ja, *jb;
	struct stat st;

	a = load(dir);
	file = path_in(dir, "local-signing-key.pem");
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_uint_eq(strlen(local_keys_kid(a)), 40);
	ck_assert_uint_eq(strspn(local_keys_kid(a), "0123456789abcdef"), 40);

	b = load(dir);
	ck_assert_str_eq(local_keys_kid(a), local_keys_kid(b));
	ja = local_keys_jwks(a);
	jb = local_keys_jwks(b);
	ck_assert(json_equal(ja, jb));
	/* No temporary file is left behind. */
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", dir);
		ck_assert_int_eq(system(cmd), 0);
	}
	json_decref(ja);
	json_decref(jb);
	local_keys_free(a);
	local_keys_free(b);
	local_keys_free(NULL);
	remove_tree(tmp);
	free(file);
	free(dir);
	free(tmp);
}
END_TEST

/* Pushes reuse a recent token per (audience, email): same string back,
 * a different one for another identity or audience. */
START_TEST(cached_tokens_are_reused_per_identity)
{
	char *tmp = make_temp_dir();
	struct local_keys *k = load(tmp);
	char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

	ck_assert_int_eq(local_keys_mint_cached(k, "aud-1", "x@example.com", &a), CJ_OK);
	ck_assert_int_eq(local_keys_mint_cached(k, "aud-1", "x@example.com", &b), CJ_OK);
	ck_assert_int_eq(local_keys_mint_cached(k, "aud-1", "y@example.com", &c), CJ_OK);
	ck_assert_int_eq(local_keys_mint_cached(k, "aud-2", "x@example.com", &d), CJ_OK);
	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);
	ck_assert_str_ne(a, d);
	free(a);
	free(b);
	free(c);
	free(d);
	local_keys_free(k);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

START_TEST(jwk_set_shape)
{
	char *tmp = make_temp_dir();
	struct local_keys *k = load(tmp);
	json_t *set = local_keys_jwks(k), *keys = json_object_get(set, "keys"), *jwk;
	EVP_PKEY *pkey = NULL;
	char why[160];

	ck_assert_uint_eq(json_object_size(set), 1);
	ck_assert(json_is_array(keys));
	ck_assert_uint_eq(json_array_size(keys), 1);
	jwk = json_array_get(keys, 0);
	ck_assert_uint_eq(json_object_size(jwk), 6);
	ck_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "RSA");
	ck_assert_str_eq(json_string_value(json_object_get(jwk, "alg")), "RS256");
	ck_assert_str_eq(json_string_value(json_object_get(jwk, "use")), "sig");
	ck_assert_str_eq(json_string_value(json_object_get(jwk, "kid")), local_keys_kid(k));
	ck_assert_str_eq(json_string_value(json_object_get(jwk, "e")), "AQAB");
	/* 2048-bit modulus: 256 bytes, 342 base64url characters, no padding. */
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(jwk, "n"))), 342);
	ck_assert_int_eq(jwk_to_pkey(jwk, &pkey, why, sizeof(why)), CJ_OK);
	ck_assert_int_eq(EVP_PKEY_get_bits(pkey), 2048);
	EVP_PKEY_free(pkey);
	json_decref(set);
	local_keys_free(k);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

START_TEST(token_verifies_against_jwk_set)
{
	char *tmp = make_temp_dir(), *tok = NULL, why[160];
	struct local_keys *k = load(tmp);
	json_t *set = local_keys_jwks(k);
	struct jwks *jw = jwks_new(NULL);
	EVP_PKEY *pkey = NULL;
	struct oidc_identity who;
	const char *reason = NULL;

	/* Exactly as another local service would: from the served JWK set. */
	ck_assert_ptr_nonnull(jw);
	ck_assert_int_eq(
	    jwk_to_pkey(json_array_get(json_object_get(set, "keys"), 0), &pkey, why, sizeof(why)),
	    CJ_OK);
	ck_assert_int_eq(jwks_add_static(jw, local_keys_kid(k), pkey), CJ_OK);
	EVP_PKEY_free(pkey);
	ck_assert_int_eq(local_keys_mint(k, AUD, EMAIL, NOW, &tok), CJ_OK);
	memset(&who, 0, sizeof(who));
	ck_assert_int_eq(verify(jw, tok, NOW + 5, &who, &reason), CJ_OK);
	ck_assert_str_eq(reason, "ok");
	ck_assert_str_eq(who.email, EMAIL);
	ck_assert_int_eq(who.exp, NOW + 3600);
	ck_assert_uint_eq(strlen(who.sub), 21);
	/* The §6 rules still apply: lifetime, audience, identity. */
	ck_assert_int_eq(verify(jw, tok, NOW + 3600 + 301, NULL, &reason), CJ_EAUTH);
	free(tok);
	ck_assert_int_eq(local_keys_mint(k, "http://elsewhere", EMAIL, NOW, &tok), CJ_OK);
	ck_assert_int_eq(verify(jw, tok, NOW, NULL, &reason), CJ_EFORBIDDEN);
	free(tok);
	ck_assert_int_eq(local_keys_mint(k, AUD, "someone@example.com", NOW, &tok), CJ_OK);
	ck_assert_int_eq(verify(jw, tok, NOW, NULL, &reason), CJ_EFORBIDDEN);
	free(tok);
	ck_assert_int_eq(local_keys_mint(k, "", EMAIL, NOW, &tok), CJ_EINVAL);
	ck_assert_ptr_null(tok);
	/* Issued now, on real time. */
	ck_assert_int_eq(local_keys_mint_now(k, AUD, EMAIL, &tok), CJ_OK);
	memset(&who, 0, sizeof(who));
	ck_assert_int_eq(verify(jw, tok, time_wall_s(), &who, &reason), CJ_OK);
	ck_assert_int_ge(who.exp, time_wall_s() + 3590);
	ck_assert_int_le(who.exp, time_wall_s() + 3600);
	free(tok);
	/* local_keys_mint_expiring() tells the exp it put in the token. */
	{
		int64_t exp = 0;

		ck_assert_int_eq(local_keys_mint_expiring(k, AUD, EMAIL, &tok, &exp), CJ_OK);
		memset(&who, 0, sizeof(who));
		ck_assert_int_eq(verify(jw, tok, time_wall_s(), &who, &reason), CJ_OK);
		ck_assert_int_eq(who.exp, exp);
		free(tok);
	}
	jwks_free(jw);
	json_decref(set);
	local_keys_free(k);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

START_TEST(trust_adds_only_this_key)
{
	char *tmp = make_temp_dir(), *other_dir = path_in(tmp, "other"), *tok = NULL;
	struct local_keys *k = load(tmp), *other = load(other_dir);
	struct jwks *jw = jwks_new(NULL);
	struct jwks_status st;
	const char *reason = NULL;

	ck_assert_ptr_nonnull(jw);
	ck_assert_str_ne(local_keys_kid(k), local_keys_kid(other));
	ck_assert_int_eq(local_keys_trust(k, jw), CJ_OK);
	ck_assert_int_eq(local_keys_trust(k, jw), CJ_EEXISTS);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.keys, 1);
	ck_assert_int_eq(st.loaded, 1);
	ck_assert_int_eq(local_keys_mint(k, AUD, EMAIL, NOW, &tok), CJ_OK);
	ck_assert_int_eq(verify(jw, tok, NOW, NULL, &reason), CJ_OK);
	free(tok);
	/* A token from another local key is not trusted. */
	ck_assert_int_eq(local_keys_mint(other, AUD, EMAIL, NOW, &tok), CJ_OK);
	ck_assert_int_eq(verify(jw, tok, NOW, NULL, &reason), CJ_EAUTH);
	ck_assert_str_eq(reason, "unknown_kid");
	free(tok);
	jwks_free(jw);
	local_keys_free(k);
	local_keys_free(other);
	remove_tree(tmp);
	free(other_dir);
	free(tmp);
}
END_TEST

START_TEST(claims_exactly_googles)
{
	char *tmp = make_temp_dir(), *tok = NULL, *tok2 = NULL, *tok3 = NULL;
	struct local_keys *k = load(tmp);
	json_t *hdr, *c, *c2, *c3;
	const char *sub;

	ck_assert_int_eq(local_keys_mint(k, AUD, EMAIL, NOW, &tok), CJ_OK);
	ck_assert_uint_eq(strspn(tok,
	                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                         "0123456789-_."),
	                  strlen(tok));
	hdr = segment(tok, 0);
	ck_assert_uint_eq(json_object_size(hdr), 3);
	ck_assert_str_eq(json_string_value(json_object_get(hdr, "alg")), "RS256");
	ck_assert_str_eq(json_string_value(json_object_get(hdr, "typ")), "JWT");
	ck_assert_str_eq(json_string_value(json_object_get(hdr, "kid")), local_keys_kid(k));

	c = segment(tok, 1);
	ck_assert_uint_eq(json_object_size(c), 8);
	ck_assert_str_eq(json_string_value(json_object_get(c, "iss")),
	                 "https://accounts.google.com");
	ck_assert_str_eq(json_string_value(json_object_get(c, "aud")), AUD);
	ck_assert_str_eq(json_string_value(json_object_get(c, "email")), EMAIL);
	ck_assert(json_is_true(json_object_get(c, "email_verified")));
	ck_assert(json_is_integer(json_object_get(c, "iat")));
	ck_assert_int_eq(json_integer_value(json_object_get(c, "iat")), NOW);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "exp")), NOW + 3600);
	sub = json_string_value(json_object_get(c, "sub"));
	ck_assert_ptr_nonnull(sub);
	ck_assert_uint_eq(strlen(sub), 21);
	ck_assert_uint_eq(strspn(sub, "0123456789"), 21);
	ck_assert_str_eq(json_string_value(json_object_get(c, "azp")), sub);

	/* sub is stable for an e-mail (another key, another time) and differs
	 * between e-mails. */
	ck_assert_int_eq(local_keys_mint(k, "other-aud", EMAIL, NOW + 99, &tok2), CJ_OK);
	c2 = segment(tok2, 1);
	ck_assert_str_eq(json_string_value(json_object_get(c2, "sub")), sub);
	ck_assert_int_eq(local_keys_mint(k, AUD, "admin@catchup-jobs.local", NOW, &tok3), CJ_OK);
	c3 = segment(tok3, 1);
	ck_assert_str_ne(json_string_value(json_object_get(c3, "sub")), sub);

	json_decref(hdr);
	json_decref(c);
	json_decref(c2);
	json_decref(c3);
	free(tok);
	free(tok2);
	free(tok3);
	local_keys_free(k);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(bad_key_files_refused)
{
	char *tmp = make_temp_dir(), *file = path_in(tmp, "local-signing-key.pem"), err[512];
	struct local_keys *k = load(tmp), *b = NULL;

	local_keys_free(k);
	/* Readable by others. */
	ck_assert_int_eq(chmod(file, 0644), 0);
	ck_assert_int_eq(local_keys_load_or_generate(tmp, &b, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "local-signing-key.pem"));
	ck_assert_ptr_null(b);
	/* Not a key. */
	write_file(file, "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", 0600);
	ck_assert_int_eq(local_keys_load_or_generate(tmp, &b, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "RSA private key"));
	/* Empty. */
	write_file(file, "", 0600);
	ck_assert_int_eq(local_keys_load_or_generate(tmp, &b, err, sizeof(err)), CJ_ECONFIG);
	/* A symlink is not followed; a directory is not a key. */
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(symlink("/etc/hostname", file), 0);
	ck_assert_int_eq(local_keys_load_or_generate(tmp, &b, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(mkdir(file, 0700), 0);
	ck_assert_int_eq(local_keys_load_or_generate(tmp, &b, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_null(b);
	remove_tree(tmp);
	free(file);
	free(tmp);
}
END_TEST

#define NPROC 4

START_TEST(racing_processes_share_one_key)
{
	char *tmp = make_temp_dir(), kids[NPROC][64];
	int fds[NPROC][2], go[2];
	pid_t pids[NPROC];
	struct local_keys *k;
	char c = 'g';

	ck_assert_int_eq(pipe(go), 0);
	for (int i = 0; i < NPROC; i++) {
		ck_assert_int_eq(pipe(fds[i]), 0);
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			char b, err[256];

			close(go[1]);
			if (read(go[0], &b, 1) < 0 ||
			    local_keys_load_or_generate(tmp, &k, err, sizeof(err)))
				_exit(1);
			if (write(fds[i][1], local_keys_kid(k), strlen(local_keys_kid(k)) + 1) < 0)
				_exit(2);
			_exit(0);
		}
		close(fds[i][1]);
	}
	close(go[0]);
	ck_assert_int_eq(write(go[1], &c, 1), 1);
	close(go[1]);
	for (int i = 0; i < NPROC; i++) {
		int st;
		ssize_t n = read(fds[i][0], kids[i], sizeof(kids[i]) - 1);

		ck_assert_int_gt(n, 1);
		kids[i][n] = '\0';
		close(fds[i][0]);
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	k = load(tmp);
	for (int i = 0; i < NPROC; i++)
		ck_assert_str_eq(kids[i], local_keys_kid(k));
	local_keys_free(k);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("local_keys");
	TCase *tc = tcase_create("core");

	log_init(L_ERROR, "test");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, generate_then_load_same_key);
	tcase_add_test(tc, jwk_set_shape);
	tcase_add_test(tc, cached_tokens_are_reused_per_identity);
	tcase_add_test(tc, token_verifies_against_jwk_set);
	tcase_add_test(tc, trust_adds_only_this_key);
	tcase_add_test(tc, claims_exactly_googles);
	tcase_add_test(tc, bad_key_files_refused);
	tcase_add_test(tc, racing_processes_share_one_key);
	suite_add_tcase(s, tc);
	return ck_run(s, CK_FORK) ? 1 : 0;
}
