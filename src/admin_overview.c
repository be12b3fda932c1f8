/*
 * admin_overview.c - GET /admin/overview; see admin_overview.h. The
 * readiness object is ops.c's and the counts recent.c's: this file only
 * puts them together.
 */
#include "admin_overview.h"

#include "answer.h"
#include "clock.h"
#include "ops.h"
#include "recent.h"

/* [{"type", "completed", …, "rejected"}] for the types counted. */
static json_t *outcomes_json(const struct recent_totals *t)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < t->ntypes; i++) {
		json_t *o = json_pack("{s:s}", "type", t->types[i].type);

		for (int k = 0; o && k < RECENT_NOUTCOMES; k++)
			if (json_object_set_new(o, recent_outcome_name(k),
			                        json_integer((json_int_t)t->types[i].n[k]))) {
				json_decref(o);
				o = NULL;
			}
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

json_t *admin_overview_doc(struct app *app)
{
	struct recent_totals t;
	json_t *ready, *outcomes;
	int ok;

	recent_totals(&t);
	ready = ops_readiness(app, &ok);
	outcomes = outcomes_json(&t);
	if (!ready || !outcomes) {
		json_decref(ready);
		json_decref(outcomes);
		return NULL;
	}
	return json_pack("{s:s, s:s, s:I, s:o, s:i, s:o, s:I}", "mode",
	                 app->cfg->cloud_mode ? "cloud" : "local", "version", CJ_VERSION, "now",
	                 (json_int_t)clock_now_s(), "ready", ready, "window", RECENT_WINDOW_S,
	                 "outcomes", outcomes, "deadLetters", (json_int_t)t.dead_letters);
}

int admin_overview(struct app *app, struct http_req *r, struct route_req *rq, struct http_answer *a)
{
	json_t *doc = admin_overview_doc(app);

	(void)r;
	(void)rq;
	if (!doc)
		http_answer_result(a, CJ_ENOMEM, "out of memory");
	else
		http_answer_json(a, 200, doc);
	return 1;
}
