/*
 * fuzz_emulator.c - libFuzzer target for local mode's Cloud Tasks API
 * bodies: a CreateTaskRequest goes through the depth check, the parser,
 * emu_json_read_create() and, when accepted, back out as a Task in both
 * views and both enum encodings (SPEC §5.4).
 */
#include <stddef.h>
#include <stdint.h>

#include "emulator_json.h"
#include "json_in.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct emu_task t;
	enum emu_view view;
	json_t *body, *out;

	body = json_in_parse((const char *)data, size, 0, NULL, err, sizeof(err));
	if (!body)
		return 0;
	if (emu_json_read_create(body, "projects/p/locations/l/queues/q", "q", 1800000000.0, &t,
	                         &view, err, sizeof(err)) == CJ_OK) {
		out = emu_json_task(&t, EMU_VIEW_FULL, 0);
		json_decref(out);
		out = emu_json_task(&t, view, 1);
		json_decref(out);
		emu_task_release(&t);
	}
	json_decref(body);
	return 0;
}
