/*
 * ckrun.c - see ckrun.h.
 */
#include "ckrun.h"

int ck_run(Suite *s, enum fork_status fork_status)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_set_fork_status(sr, fork_status);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed;
}
