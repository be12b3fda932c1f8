/*
 * store_rows.c - results of store statements: iteration and typed getters
 * over the cells a backend materialised (see store.h, store_internal.h).
 *
 * Owns every struct store_rows' memory, including numbers formatted on
 * demand. Never reaches back to the connection that produced a result.
 */
#include "store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct store_rows *store_rows_new(void)
{
	return calloc(1, sizeof(struct store_rows));
}

static const struct store_cell *cell(const struct store_rows *r, size_t col)
{
	if (!r || r->cur == 0 || r->cur > r->nrows || col >= r->ncols)
		BUG("store_rows getter without a current row or column out of range");
	return &r->cells[(r->cur - 1) * r->ncols + col];
}

int store_rows_next(struct store_rows *r)
{
	if (!r || r->cur >= r->nrows)
		return 0;
	r->cur++;
	return 1;
}

void store_rows_rewind(struct store_rows *r)
{
	if (r)
		r->cur = 0;
}

size_t store_rows_count(const struct store_rows *r)
{
	return r ? r->nrows : 0;
}

size_t store_rows_ncols(const struct store_rows *r)
{
	return r ? r->ncols : 0;
}

const char *store_rows_name(const struct store_rows *r, size_t col)
{
	if (!r || col >= r->ncols)
		BUG("store_rows_name: column out of range");
	return r->names[col];
}

int store_rows_is_null(const struct store_rows *r, size_t col)
{
	return cell(r, col)->type == STORE_P_NULL;
}

const char *store_rows_text(struct store_rows *r, size_t col)
{
	struct store_cell *c = (struct store_cell *)cell(r, col);
	char tmp[40];
	int n;

	switch (c->type) {
	case STORE_P_TEXT:
		return c->s;
	case STORE_P_NULL:
		return NULL;
	default:
		break;
	}
	if (!c->fmt) {
		if (c->type == STORE_P_INT)
			n = snprintf(tmp, sizeof(tmp), "%" PRId64, c->i);
		else
			n = snprintf(tmp, sizeof(tmp), "%.17g", c->d);
		c->fmt = malloc((size_t)n + 1);
		if (!c->fmt)
			return NULL;
		memcpy(c->fmt, tmp, (size_t)n + 1);
	}
	return c->fmt;
}

size_t store_rows_len(struct store_rows *r, size_t col)
{
	const char *t = store_rows_text(r, col);
	const struct store_cell *c = cell(r, col);

	if (!t)
		return 0;
	return c->type == STORE_P_TEXT ? c->len : strlen(t);
}

static int64_t double_to_int(double d)
{
	if (isnan(d))
		return 0;
	if (d >= 9223372036854775807.0)
		return INT64_MAX;
	if (d <= -9223372036854775808.0)
		return INT64_MIN;
	return (int64_t)d;
}

int64_t store_rows_int(const struct store_rows *r, size_t col)
{
	const struct store_cell *c = cell(r, col);
	char *end;
	long long v;

	switch (c->type) {
	case STORE_P_INT:
		return c->i;
	case STORE_P_DOUBLE:
		return double_to_int(c->d);
	case STORE_P_TEXT:
		errno = 0;
		v = strtoll(c->s, &end, 10);
		if (!errno && end != c->s && !*end)
			return v;
		return double_to_int(store_rows_double(r, col));
	default:
		return 0;
	}
}

double store_rows_double(const struct store_rows *r, size_t col)
{
	const struct store_cell *c = cell(r, col);
	char *end;
	double d;

	switch (c->type) {
	case STORE_P_DOUBLE:
		return c->d;
	case STORE_P_INT:
		return (double)c->i;
	case STORE_P_TEXT:
		d = strtod(c->s, &end);
		return (end != c->s && !*end) ? d : 0;
	default:
		return 0;
	}
}

int64_t store_rows_changes(const struct store_rows *r)
{
	return r ? r->changes : 0;
}

void store_rows_free(struct store_rows *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->cells && i < r->nrows * r->ncols; i++)
		free(r->cells[i].fmt);
	free(r->cells);
	free(r->names);
	free(r->arena);
	if (r->res && r->res_free)
		r->res_free(r->res);
	free(r);
}
