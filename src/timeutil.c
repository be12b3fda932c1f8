/*
 * timeutil.c - clocks and time formats; see timeutil.h.
 */
#include "timeutil.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double time_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int64_t time_wall_s(void)
{
	return (int64_t)time(NULL);
}

char *time_format_rfc3339(double t, int frac_digits, char *out, size_t outlen)
{
	time_t secs = (time_t)floor(t);
	double frac = t - (double)secs;
	struct tm tm;
	size_t n;

	gmtime_r(&secs, &tm);
	n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac_digits == 3)
		snprintf(out + n, outlen - n, ".%03dZ", (int)(frac * 1e3) % 1000);
	else if (frac_digits == 6)
		snprintf(out + n, outlen - n, ".%06dZ", (int)(frac * 1e6) % 1000000);
	else
		snprintf(out + n, outlen - n, "Z");
	return out;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

int time_parse_rfc3339(const char *s, double *out)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	double frac = 0, scale = 0.1;
	struct tm tm;
	const char *p;
	time_t t;

	if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return CJ_EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 60)
		return CJ_EINVAL;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return CJ_EINVAL;
		while (isdigit((unsigned char)*p)) {
			frac += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return CJ_EINVAL;
		p += 6;
	} else {
		return CJ_EINVAL;
	}
	if (*p)
		return CJ_EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec > 59 ? 59 : sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return CJ_EINVAL;
	*out = (double)t + frac - sign * (oh * 3600 + om * 60);
	return CJ_OK;
}

int time_parse_duration(const char *s, double *out)
{
	size_t n = strlen(s);
	char *end;
	double v;

	if (n < 2 || s[n - 1] != 's' || !isdigit((unsigned char)s[0]))
		return CJ_EINVAL;
	v = strtod(s, &end);
	if (end != s + n - 1 || !isfinite(v) || v < 0)
		return CJ_EINVAL;
	*out = v;
	return CJ_OK;
}
