/* Assertions for integration tests that show the offending message when they fail.
 * Include after <cmocka.h>. */
#pragma once
#include "tests/support/tmsg.h"

/* Fails the test with the expression and the message m as text unless cond holds. A macro so
 * that cmocka reports the test's own file and line. */
#define assert_msg(cond, m)                                                                 \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fail_msg("%s is false for message %s", #cond, tmsg_text(m));                    \
        }                                                                                   \
    } while (0)
