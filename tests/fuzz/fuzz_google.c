/*
 * fuzz_google.c - libFuzzer target for Google's answers (src/google_api.c):
 * the one classification of an answer into a result code and a struct
 * google_error, for the OAuth token endpoint (which also reads the token)
 * and for the People and Calendar APIs.
 *
 * Input: an answer as text (answer_input.h), line 1 naming the endpoint
 * ("token 400", "people 200", "calendar 410"; anything else is Calendar).
 * Beyond the sanitizers it checks google_api.h's contract: only the
 * documented codes, each with its kind; a JSON object exactly on CJ_OK;
 * transient for 429 and 5xx whatever the body; a bounded Retry-After; a
 * message on every failure.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer_input.h"
#include "google_api.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(L_ERROR, "fuzz");
	return 0;
}

static void check_error(int rc, long status, const struct google_error *gerr)
{
	if (!memchr(gerr->reason, '\0', sizeof(gerr->reason)) ||
	    !memchr(gerr->message, '\0', sizeof(gerr->message)))
		abort();
	if (gerr->retry_after_s < 0 || gerr->retry_after_s > 3600)
		abort();
	if (rc == CJ_OK || rc == CJ_ENOMEM)
		return;
	if (!gerr->message[0] || gerr->http_status != status)
		abort(); /* bodies over the caps (status 0) are beyond the fuzzer's lengths */
	if ((status == 429 || status >= 500) && rc != CJ_EUNAVAIL)
		abort(); /* transient whatever the body says */
	switch (rc) {
	case CJ_EUNAVAIL:
		if (gerr->kind != GOOGLE_ERR_TRANSIENT)
			abort();
		break;
	case CJ_EUPSTREAM:
		if (gerr->kind != GOOGLE_ERR_PERMANENT && gerr->kind != GOOGLE_ERR_SYNC_EXPIRED)
			abort();
		break;
	case CJ_EAUTH:
		if (gerr->kind != GOOGLE_ERR_UNAUTHORIZED && gerr->kind != GOOGLE_ERR_REVOKED)
			abort();
		break;
	case CJ_ECONFIG:
		if (gerr->kind != GOOGLE_ERR_CONFIG)
			abort();
		break;
	case CJ_ENOTFOUND:
		if (gerr->kind != GOOGLE_ERR_NOT_FOUND || status != 404)
			abort();
		break;
	default:
		abort(); /* not a documented result */
	}
}

static void fuzz_token(const struct answer_input *in)
{
	struct google_token tok;
	struct google_error gerr;
	int rc;

	rc = google_oauth_answer(in->status, in->headers, in->hlen, in->body, in->len, &tok, &gerr);
	check_error(rc, in->status, &gerr);
	if (rc == CJ_OK) {
		if (!tok.access_token || !tok.access_token[0] || tok.expires_in <= 0 ||
		    in->status < 200 || in->status > 299 || gerr.kind != GOOGLE_ERR_NONE)
			abort();
		if (tok.refresh_token && !tok.refresh_token[0])
			abort();
	} else {
		if (tok.access_token || tok.refresh_token)
			abort();
		if (rc == CJ_ENOTFOUND || (rc == CJ_EAUTH && gerr.kind != GOOGLE_ERR_REVOKED))
			abort(); /* the token endpoint has neither */
		if (rc == CJ_EAUTH && strcmp(gerr.reason, "invalid_grant"))
			abort();
	}
	google_token_release(&tok);
}

static void fuzz_api(enum google_service svc, const struct answer_input *in)
{
	struct google_error gerr;
	json_t *out = NULL;
	int rc;

	rc = google_api_answer(svc, in->status, in->headers, in->hlen, in->body, in->len, &out,
	                       &gerr);
	check_error(rc, in->status, &gerr);
	if (rc == CJ_OK) {
		if (!json_is_object(out) || in->status < 200 || in->status > 299)
			abort();
	} else if (out) {
		abort();
	}
	if (rc == CJ_ECONFIG ||
	    (rc == CJ_EAUTH && (gerr.kind != GOOGLE_ERR_UNAUTHORIZED || in->status != 401)))
		abort(); /* only the token endpoint refuses our client or a grant */
	json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct answer_input in;

	answer_input_read(data, size, &in);
	if (answer_input_is(&in, "token"))
		fuzz_token(&in);
	else if (answer_input_is(&in, "people"))
		fuzz_api(GOOGLE_PEOPLE, &in);
	else
		fuzz_api(GOOGLE_CALENDAR, &in);
	return 0;
}
