/*
 * fuzz_payload.c - libFuzzer target for what request bodies and headers go
 * through besides tokens: JSON payloads checked against every job's schema,
 * RFC 3339 times (scheduleTime, X-CloudScheduler-ScheduleTime), duration
 * strings, and the base64 decoders (Upstash answers, Cloud Tasks bodies).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "job_types.h"
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

	payload = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (payload) {
		const struct job_type *types = job_types_all(&n);

		for (size_t i = 0; i < n; i++)
			(void)schema_validate(types[i].fields, payload, err, sizeof(err));
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
