/*
 * fuzz_payload.c - libFuzzer target for what request bodies and headers go
 * through besides tokens: the JSON depth cap and parse, payloads checked
 * against every job's schema and serialised again,
 * RFC 3339 times (scheduleTime, X-CloudScheduler-ScheduleTime), duration
 * strings, and the base64 decoders (Upstash answers, Cloud Tasks bodies).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "job_types.h"
#include "json_in.h"
#include "schema.h"
#include "timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], *text;
	unsigned char *out;
	size_t n, outlen;
	json_t *payload;
	double t;

	/* The path every request body takes: the depth cap, then jansson;
	 * whatever passes is validated and serialised again (as answers and
	 * dead letters are), which recurses per level. */
	payload = json_in_parse((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	                        NULL, err, sizeof(err));
	if (payload) {
		const struct job_type *types = job_types_all(&n);
		char *again;

		for (size_t i = 0; i < n; i++)
			(void)schema_validate(types[i].fields, payload, err, sizeof(err));
		again = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!again)
			abort(); /* a value that passed the cap must serialise */
		free(again);
		json_decref(payload);
	}
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	(void)time_parse_rfc3339(text, &t);
	(void)time_parse_duration(text, &t);
	if (!b64_decode(text, strlen(text), &out, &outlen))
		free(out);
	if (!b64url_decode(text, strlen(text), &out, &outlen))
		free(out);
	free(text);
	return 0;
}
