/*
 * fuzz_cron.c - libFuzzer target for the cron expressions of
 * schedules.json (src/cron.c): cron_parse(), then cron_next() in a time
 * zone, twice in a row.
 *
 * Input: the expression on line 1 ("*\/10 * * * *"); bytes after a "\n"
 * pick the zone (first byte) and move the start time (next four bytes,
 * seconds after 2027-01-15); without them, UTC from that time. Beyond the
 * sanitizers it checks cron.h's contract: an error names its field; a next
 * firing time is later than the start, within CRON_SEARCH_YEARS, and later
 * again from itself; in UTC it falls on a whole minute that matches, and no
 * minute in between matches (checked when the gap is under two hours).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"
#include "log.h"
#include "tz.h"

#define BASE ((int64_t)1800000000) /* 2027-01-15T08:00:00Z */
#define YEAR_S ((int64_t)366 * 86400)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* UTC first; then zones with DST jumps of an hour, of half an hour
 * (Lord Howe), a 45-minute offset (Chatham), and one without DST. */
static const char *const zone_names[] = {"UTC",          "America/New_York",    "Europe/London",
                                         "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"};
#define NZONES (sizeof(zone_names) / sizeof(zone_names[0]))

/* Loaded once in LLVMFuzzerInitialize, then read-only. */
static const struct tz *zones[NZONES];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(L_ERROR, "fuzz");
	for (size_t i = 0; i < NZONES; i++) {
		zones[i] = tz_get(zone_names[i], NULL, 0);
		if (!zones[i])
			abort(); /* tzdata is a build dependency */
	}
	return 0;
}

static void check_utc(const struct cron_spec *c, int64_t after, int64_t next)
{
	struct tm tm;
	time_t t = (time_t)next;

	if (next % 60 || !gmtime_r(&t, &tm) || !cron_matches(c, &tm))
		abort();
	if (next - after > 2 * 3600)
		return;
	for (int64_t m = (after / 60 + 1) * 60; m < next; m += 60) {
		t = (time_t)m;
		if (gmtime_r(&t, &tm) && cron_matches(c, &tm))
			abort(); /* an earlier minute fires */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t len = nl ? (size_t)(nl - data) : size;
	const struct tz *zone = zones[0];
	int64_t after = BASE, next, again;
	struct cron_spec spec;
	char err[256], *text;
	int rc;

	if (nl && nl + 1 < data + size) {
		const uint8_t *x = nl + 1;
		size_t n = (size_t)(data + size - x);

		zone = zones[x[0] % NZONES];
		for (size_t i = 1; i < 5 && i < n; i++)
			after += (int64_t)x[i] << (8 * (i - 1));
	}
	text = malloc(len + 1);
	if (!text)
		return 0;
	memcpy(text, data, len);
	text[len] = '\0';
	err[0] = '\0';
	rc = cron_parse(text, &spec, err, sizeof(err));
	free(text);
	if (rc != CJ_OK) {
		if (rc != CJ_EINVAL || !memchr(err, '\0', sizeof(err)) || !strstr(err, "field"))
			abort();
		return 0;
	}
	rc = cron_next(&spec, zone, after, &next);
	if (rc == CJ_ENOTFOUND)
		return 0;
	if (rc != CJ_OK || next <= after || next - after > (CRON_SEARCH_YEARS + 1) * YEAR_S)
		abort();
	if (zone == zones[0])
		check_utc(&spec, after, next);
	rc = cron_next(&spec, zone, next, &again);
	if (rc == CJ_ENOTFOUND)
		return 0;
	if (rc != CJ_OK || again <= next)
		abort();
	return 0;
}
