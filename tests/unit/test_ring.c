/* ring: regrowing keeps order across the wrap point. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "ring.h"

static void test_regrow_wrapped(void **state)
{
    (void)state;
    for (uint32_t head = 0; head < 8; head++) {
        for (uint32_t len = 0; len <= 8; len++) {
            int *r = malloc(8 * sizeof(int));
            for (uint32_t i = 0; i < len; i++)
                r[(head + i) % 8] = (int)(100 + i);
            int *n = ring_regrow(r, head, len, 8, 16, sizeof(int));
            assert_non_null(n);
            for (uint32_t i = 0; i < len; i++)
                assert_int_equal(n[i], 100 + (int)i);
            free(n);
        }
    }
}

static void test_regrow_refuses_shrinking_below_len(void **state)
{
    (void)state;
    int *r = calloc(8, sizeof(int));
    assert_null(ring_regrow(r, 3, 6, 8, 4, sizeof(int)));
    free(r); /* untouched on failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regrow_wrapped),
        cmocka_unit_test(test_regrow_refuses_shrinking_below_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
