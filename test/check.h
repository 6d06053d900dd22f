/*
 * check.h - the tally of the unit tests built without the server
 * (core_test.c, nn_test.c): each check counts, a failed one says what.
 */
#ifndef RECO_TEST_CHECK_H
#define RECO_TEST_CHECK_H

#include <stdio.h>

static int	passed;
static int	failed;

static void
check(int ok, const char *what)
{
	if (ok)
		passed++;
	else
	{
		failed++;
		printf("FAILED: %s\n", what);
	}
}

#endif
