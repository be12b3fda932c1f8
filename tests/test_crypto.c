/*
 * test_crypto.c - unit tests for src/crypto.c: round trips, fresh nonces,
 * every tampered byte and every truncation rejected, wrong key / aad /
 * version rejected, TOKEN_ENCRYPTION_KEY parsing without echoing the value,
 * and the local key file (0600, reused, refused when unsafe, one key when
 * several processes create it at once).
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckrun.h"
#include "b64.h"
#include "crypto.h"
#include "proc.h"

static struct crypto_key *new_key(void)
{
	struct crypto_key *k;

	ck_assert_int_eq(crypto_key_generate(&k), CJ_OK);
	return k;
}

static char *enc(const struct crypto_key *k, const char *pt, const char *aad)
{
	char *out;

	ck_assert_int_eq(crypto_encrypt(k, pt, strlen(pt), aad, &out), CJ_OK);
	ck_assert_int_eq(strncmp(out, "v1:", 3), 0);
	return out;
}

START_TEST(round_trip)
{
	struct crypto_key *k = new_key();
	size_t big_len = 1024 * 1024, len;
	char *big = malloc(big_len), *ct, *pt;
	static const char bin[] = {'a', '\0', 'b', '\xff'};

	ct = enc(k, "ya29.a0AfH6SMB-access-token", "user-1");
	ck_assert_int_eq(crypto_decrypt(k, ct, "user-1", &pt, &len), CJ_OK);
	ck_assert_str_eq(pt, "ya29.a0AfH6SMB-access-token");
	ck_assert_uint_eq(len, strlen(pt));
	crypto_secret_free(pt, len);
	free(ct);
	/* Empty plaintext, NULL aad equal to "". */
	ct = enc(k, "", NULL);
	ck_assert_int_eq(crypto_decrypt(k, ct, "", &pt, &len), CJ_OK);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(pt, "");
	crypto_secret_free(pt, len);
	free(ct);
	/* Bytes, NUL included. */
	ck_assert_int_eq(crypto_encrypt(k, bin, sizeof(bin), "x", &ct), CJ_OK);
	ck_assert_int_eq(crypto_decrypt(k, ct, "x", &pt, &len), CJ_OK);
	ck_assert_uint_eq(len, sizeof(bin));
	ck_assert(!memcmp(pt, bin, sizeof(bin)));
	crypto_secret_free(pt, len);
	free(ct);
	/* Large. */
	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)(i * 7);
	ck_assert_int_eq(crypto_encrypt(k, big, big_len, "u", &ct), CJ_OK);
	ck_assert_int_eq(crypto_decrypt(k, ct, "u", &pt, &len), CJ_OK);
	ck_assert_uint_eq(len, big_len);
	ck_assert(!memcmp(pt, big, big_len));
	crypto_secret_free(pt, len);
	free(ct);
	ck_assert_int_eq(crypto_encrypt(k, big, CRYPTO_MAX_PLAINTEXT + 1, "u", &ct), CJ_ETOOBIG);
	free(big);
	crypto_key_free(k);
}
END_TEST

START_TEST(nonces_differ)
{
	struct crypto_key *k = new_key();
	char *ct[64];
	unsigned char *raw;
	size_t rawlen;
	unsigned char nonces[64][12];

	for (int i = 0; i < 64; i++) {
		ct[i] = enc(k, "same plaintext", "same aad");
		ck_assert_int_eq(b64_decode(ct[i] + 3, strlen(ct[i] + 3), &raw, &rawlen), CJ_OK);
		ck_assert_uint_eq(rawlen, 12 + strlen("same plaintext") + 16);
		memcpy(nonces[i], raw, 12);
		free(raw);
		for (int j = 0; j < i; j++) {
			ck_assert_str_ne(ct[i], ct[j]);
			ck_assert(memcmp(nonces[i], nonces[j], 12));
		}
	}
	for (int i = 0; i < 64; i++)
		free(ct[i]);
	crypto_key_free(k);
}
END_TEST

/* Re-encodes raw bytes as a "v1:" text. */
static char *v1(const unsigned char *raw, size_t len)
{
	char *b = b64_encode(raw, len), *out;

	ck_assert_ptr_nonnull(b);
	out = malloc(strlen(b) + 4);
	ck_assert_ptr_nonnull(out);
	snprintf(out, strlen(b) + 4, "v1:%s", b);
	free(b);
	return out;
}

START_TEST(tampering_rejected)
{
	struct crypto_key *k = new_key();
	char *ct = enc(k, "refresh-token-1234", "user-9"), *bad, *pt = NULL;
	unsigned char *raw;
	size_t rawlen;

	ck_assert_int_eq(b64_decode(ct + 3, strlen(ct + 3), &raw, &rawlen), CJ_OK);
	/* Every byte of nonce, ciphertext and tag. */
	for (size_t i = 0; i < rawlen; i++) {
		raw[i] ^= 0x01;
		bad = v1(raw, rawlen);
		ck_assert_int_eq(crypto_decrypt(k, bad, "user-9", &pt, NULL), CJ_EINVAL);
		ck_assert_ptr_null(pt);
		free(bad);
		raw[i] ^= 0x01;
	}
	/* Every truncation. */
	for (size_t n = 0; n < rawlen; n++) {
		bad = v1(raw, n);
		ck_assert_int_eq(crypto_decrypt(k, bad, "user-9", &pt, NULL), CJ_EINVAL);
		free(bad);
	}
	/* The untouched bytes still decrypt. */
	bad = v1(raw, rawlen);
	ck_assert_int_eq(crypto_decrypt(k, bad, "user-9", &pt, NULL), CJ_OK);
	ck_assert_str_eq(pt, "refresh-token-1234");
	crypto_secret_free(pt, strlen(pt));
	free(bad);
	free(raw);
	ck_assert_int_eq(crypto_decrypt(k, "v1:", "user-9", &pt, NULL), CJ_EINVAL);
	ck_assert_int_eq(crypto_decrypt(k, "v1:not*base64", "user-9", &pt, NULL), CJ_EINVAL);
	ck_assert_int_eq(crypto_decrypt(k, NULL, "user-9", &pt, NULL), CJ_EINVAL);
	free(ct);
	crypto_key_free(k);
}
END_TEST

START_TEST(wrong_key_aad_or_version)
{
	struct crypto_key *k = new_key(), *other = new_key();
	char *ct = enc(k, "secret", "user-1"), *pt = NULL, *moved;

	ck_assert_int_eq(crypto_decrypt(other, ct, "user-1", &pt, NULL), CJ_EINVAL);
	ck_assert_int_eq(crypto_decrypt(k, ct, "user-2", &pt, NULL), CJ_EINVAL);
	ck_assert_int_eq(crypto_decrypt(k, ct, NULL, &pt, NULL), CJ_EINVAL);
	moved = strdup(ct);
	moved[1] = '2';
	ck_assert_int_eq(crypto_decrypt(k, moved, "user-1", &pt, NULL), CJ_EINVAL);
	moved[1] = '1';
	moved[0] = 'V';
	ck_assert_int_eq(crypto_decrypt(k, moved, "user-1", &pt, NULL), CJ_EINVAL);
	ck_assert_int_eq(crypto_decrypt(k, ct + 3, "user-1", &pt, NULL), CJ_EINVAL);
	ck_assert_ptr_null(pt);
	free(moved);
	free(ct);
	crypto_key_free(k);
	crypto_key_free(other);
}
END_TEST

START_TEST(key_from_environment_value)
{
	static const unsigned char raw[32] = "0123456789abcdef0123456789abcdef";
	char *b64 = b64_encode(raw, 32), *ct, *pt;
	char err[256], buf[128], *short_key = b64_encode(raw, 16), *long_key = b64_encode(raw, 31);
	struct crypto_key *a, *b;
	char *again;

	ck_assert_int_eq(crypto_key_from_base64(b64, &a, err, sizeof(err)), CJ_OK);
	snprintf(buf, sizeof(buf), "  %s\n", b64);
	ck_assert_int_eq(crypto_key_from_base64(buf, &b, err, sizeof(err)), CJ_OK);
	ct = enc(a, "t", "u");
	ck_assert_int_eq(crypto_decrypt(b, ct, "u", &pt, NULL), CJ_OK);
	crypto_secret_free(pt, 1);
	free(ct);
	again = crypto_key_to_base64(a);
	ck_assert_str_eq(again, b64);
	crypto_secret_free(again, strlen(again));
	crypto_key_free(b);
	/* The URL alphabet is accepted too. */
	{
		unsigned char r2[32];
		char *u;

		memset(r2, 0xfb, sizeof(r2));
		u = b64url_encode(r2, 32);
		ck_assert_int_eq(crypto_key_from_base64(u, &b, err, sizeof(err)), CJ_OK);
		crypto_key_free(b);
		free(u);
	}
	ck_assert_int_eq(crypto_key_from_base64("", &b, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "TOKEN_ENCRYPTION_KEY"));
	ck_assert_int_eq(crypto_key_from_base64("not base64 at all!", &b, err, sizeof(err)),
	                 CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "TOKEN_ENCRYPTION_KEY"));
	ck_assert_ptr_null(strstr(err, "at all"));
	ck_assert_int_eq(crypto_key_from_base64(short_key, &b, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "16 bytes"));
	ck_assert_ptr_null(strstr(err, short_key));
	ck_assert_int_eq(crypto_key_from_base64(long_key, &b, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_null(b);
	crypto_key_free(a);
	free(b64);
	free(short_key);
	free(long_key);
}
END_TEST

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

START_TEST(key_file_generated_and_reused)
{
	char *tmp = make_temp_dir(), dir[256], path[300], err[512], *ct, *pt;
	struct crypto_key *a, *b;
	struct stat st;
	int generated = -1;

	snprintf(dir, sizeof(dir), "%s/data/keys", tmp);
	snprintf(path, sizeof(path), "%s/%s", dir, CRYPTO_KEY_FILE);
	ck_assert_int_eq(crypto_key_load_or_generate(dir, &a, &generated, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(generated, 1);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(crypto_key_load_or_generate(dir, &b, &generated, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(generated, 0);
	ct = enc(a, "token", "u");
	ck_assert_int_eq(crypto_decrypt(b, ct, "u", &pt, NULL), CJ_OK);
	crypto_secret_free(pt, 5);
	free(ct);
	crypto_key_free(b);
	/* Readable by others: refused. */
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(crypto_key_load_or_generate(dir, &b, NULL, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(crypto_key_load_or_generate(dir, &b, NULL, err, sizeof(err)), CJ_ECONFIG);
	/* Wrong size or content: refused, and never replaced. */
	write_file(path, "0123456789012345678901234567890123456789012345678901234567\n", 0600);
	ck_assert_int_eq(crypto_key_load_or_generate(dir, &b, NULL, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "size"));
	write_file(path, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n", 0600);
	ck_assert_int_eq(crypto_key_load_or_generate(dir, &b, NULL, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 45);
	/* Not a regular file; a symlink is not followed. */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(crypto_key_load_or_generate(dir, &b, NULL, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_int_eq(rmdir(path), 0);
	ck_assert_int_eq(symlink("/etc/hostname", path), 0);
	ck_assert_int_eq(crypto_key_load_or_generate(dir, &b, NULL, err, sizeof(err)), CJ_ECONFIG);
	crypto_key_free(a);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

#define NPROC 4

START_TEST(key_file_one_key_for_racing_processes)
{
	char *tmp = make_temp_dir(), err[512], buf[NPROC][256];
	struct crypto_key *k;
	int fds[NPROC][2], go[2], generated_total = 0;
	pid_t pids[NPROC];
	char c = 'g';

	ck_assert_int_eq(pipe(go), 0);
	for (int i = 0; i < NPROC; i++) {
		ck_assert_int_eq(pipe(fds[i]), 0);
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			char b, *ct, line[300];
			int generated;

			close(go[1]);
			if (read(go[0], &b, 1) < 0 ||
			    crypto_key_load_or_generate(tmp, &k, &generated, err, sizeof(err)) ||
			    crypto_encrypt(k, "shared", 6, "u", &ct))
				_exit(1);
			snprintf(line, sizeof(line), "%d%s", generated, ct);
			if (write(fds[i][1], line, strlen(line) + 1) < 0)
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
		ssize_t n = read(fds[i][0], buf[i], sizeof(buf[i]) - 1);

		ck_assert_int_gt(n, 1);
		buf[i][n] = '\0';
		close(fds[i][0]);
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		generated_total += buf[i][0] == '1';
	}
	ck_assert_int_eq(generated_total, 1);
	ck_assert_int_eq(crypto_key_load_or_generate(tmp, &k, NULL, err, sizeof(err)), CJ_OK);
	for (int i = 0; i < NPROC; i++) {
		char *pt;

		ck_assert_int_eq(crypto_decrypt(k, buf[i] + 1, "u", &pt, NULL), CJ_OK);
		ck_assert_str_eq(pt, "shared");
		crypto_secret_free(pt, 6);
	}
	crypto_key_free(k);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crypto");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, nonces_differ);
	tcase_add_test(tc, tampering_rejected);
	tcase_add_test(tc, wrong_key_aad_or_version);
	tcase_add_test(tc, key_from_environment_value);
	tcase_add_test(tc, key_file_generated_and_reused);
	tcase_add_test(tc, key_file_one_key_for_racing_processes);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
