/*
 * fuzz_messaging.c - libFuzzer target for Twilio's and SendGrid's answers
 * (src/messaging.c): the one classification of each provider's answer into
 * a result code and a struct messaging_result.
 *
 * Input: an answer as text (answer_input.h), line 1 naming the provider
 * ("twilio 400", "sendgrid 202"; anything else is Twilio). Beyond the
 * sanitizers it checks messaging.h's contract: 2xx accepted, 429 and 5xx
 * transient, 401/403/404 a configuration fault, every other status a
 * permanent refusal with a code; strings terminated; nothing "maybe sent"
 * when an answer came.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer_input.h"
#include "log.h"
#include "messaging.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(L_ERROR, "fuzz");
	return 0;
}

static int expected(long st)
{
	if (st >= 200 && st < 300)
		return CJ_OK;
	if (st == 429 || st >= 500)
		return CJ_EUNAVAIL;
	if (st == 401 || st == 403 || st == 404)
		return CJ_ECONFIG;
	return CJ_EUPSTREAM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum messaging_provider p = MESSAGING_TWILIO;
	struct messaging_result res;
	struct answer_input in;
	int rc;

	answer_input_read(data, size, &in);
	if (answer_input_is(&in, "sendgrid"))
		p = MESSAGING_SENDGRID;
	rc = messaging_answer(p, in.status, in.headers, in.hlen, in.body, in.len, &res);
	if (!memchr(res.provider_id, '\0', sizeof(res.provider_id)) ||
	    !memchr(res.code, '\0', sizeof(res.code)) ||
	    !memchr(res.message, '\0', sizeof(res.message)))
		abort();
	if (rc == CJ_ENOMEM)
		return 0;
	if (rc != expected(in.status) || res.http_status != in.status || res.maybe_sent)
		abort(); /* bodies over the cap (status 0) are beyond the fuzzer's lengths */
	if (res.retry_after_s < 0 || res.retry_after_s > 3600)
		abort();
	switch (rc) {
	case CJ_OK:
		if (res.kind != MESSAGING_ERR_NONE || res.code[0])
			abort();
		break;
	case CJ_EUNAVAIL:
		if (res.kind != MESSAGING_ERR_TRANSIENT || !res.message[0])
			abort();
		break;
	case CJ_ECONFIG:
		if (res.kind != MESSAGING_ERR_REFUSED || !res.message[0])
			abort();
		break;
	default:
		if (res.kind != MESSAGING_ERR_PERMANENT || !res.code[0] || !res.message[0])
			abort();
		break;
	}
	return 0;
}
