/* A dozen lines of unit-test support: CHECK records a failure and goes on;
 * each test binary prints "PASS name" / "FAIL name" lines and exits non-zero
 * when anything failed.  tests/run.py counts the lines. */
#ifndef SFN_CHECK_H
#define SFN_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_case_failed;

#define CHECK(cond)                                                                             \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			check_case_failed = 1;                                                  \
		}                                                                               \
	} while (0)

#define CHECK_STR(got, want)                                                                     \
	do {                                                                                     \
		const char *g_ = (got), *w_ = (want);                                            \
		if (!g_ || strcmp(g_, w_) != 0) {                                                \
			fprintf(stderr, "  %s:%d: got \"%s\"\n  want \"%s\"\n", __FILE__, __LINE__, \
				g_ ? g_ : "(null)", w_);                                         \
			check_case_failed = 1;                                                   \
		}                                                                                \
	} while (0)

#define RUN(test)                                                  \
	do {                                                       \
		check_case_failed = 0;                             \
		test();                                            \
		printf("%s %s\n", check_case_failed ? "FAIL" : "PASS", #test); \
		fflush(stdout);                                    \
		check_failures += check_case_failed;               \
	} while (0)

#define CHECK_DONE() (check_failures ? 1 : 0)

#endif
