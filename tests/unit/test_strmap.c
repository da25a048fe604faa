/* strmap: insert, replace, delete, growth, binary keys, removal during iteration. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "strmap.h"

static void test_put_get_replace_del(void **state)
{
    (void)state;
    struct strmap m;
    strmap_init(&m);
    int a = 1, b = 2;
    assert_null(strmap_get(&m, "x", 1));
    assert_int_equal(strmap_put(&m, "x", 1, &a), 0);
    assert_ptr_equal(strmap_get(&m, "x", 1), &a);
    assert_int_equal(strmap_put(&m, "x", 1, &b), 0);
    assert_ptr_equal(strmap_get(&m, "x", 1), &b);
    assert_int_equal(strmap_count(&m), 1);
    assert_null(strmap_get(&m, "xy", 2));
    assert_null(strmap_get(&m, "", 0));
    assert_ptr_equal(strmap_del(&m, "x", 1), &b);
    assert_null(strmap_del(&m, "x", 1));
    assert_int_equal(strmap_count(&m), 0);
    strmap_clear(&m);
}

static void test_binary_and_empty_keys(void **state)
{
    (void)state;
    struct strmap m;
    strmap_init(&m);
    int v1 = 1, v2 = 2, v3 = 3;
    const char k1[] = {'a', 0, 'b'};
    const char k2[] = {'a', 0, 'c'};
    assert_int_equal(strmap_put(&m, k1, 3, &v1), 0);
    assert_int_equal(strmap_put(&m, k2, 3, &v2), 0);
    assert_int_equal(strmap_put(&m, "", 0, &v3), 0);
    assert_ptr_equal(strmap_get(&m, k1, 3), &v1);
    assert_ptr_equal(strmap_get(&m, k2, 3), &v2);
    assert_ptr_equal(strmap_get(&m, "", 0), &v3);
    assert_null(strmap_get(&m, "a", 1));
    strmap_clear(&m);
}

static void test_growth_keeps_everything(void **state)
{
    (void)state;
    struct strmap m;
    strmap_init(&m);
    static int vals[20000];
    char key[32];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(key, sizeof(key), "client-%d", i);
        assert_int_equal(strmap_put(&m, key, (size_t)n, &vals[i]), 0);
    }
    assert_int_equal(strmap_count(&m), 20000);
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(key, sizeof(key), "client-%d", i);
        assert_ptr_equal(strmap_get(&m, key, (size_t)n), &vals[i]);
    }
    strmap_clear(&m);
    assert_int_equal(strmap_count(&m), 0);
    assert_null(strmap_get(&m, "client-1", 8));
}

static bool drop_even(void *ctx, const void *key, size_t len, void *value)
{
    (void)key;
    (void)len;
    (*(int *)ctx)++;
    return (*(int *)value % 2) == 0;
}

static void test_each_removes(void **state)
{
    (void)state;
    struct strmap m;
    strmap_init(&m);
    static int vals[100];
    char key[16];
    for (int i = 0; i < 100; i++) {
        vals[i] = i;
        int n = snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(strmap_put(&m, key, (size_t)n, &vals[i]), 0);
    }
    int visited = 0;
    strmap_each(&m, drop_even, &visited);
    assert_int_equal(visited, 100);
    assert_int_equal(strmap_count(&m), 50);
    for (int i = 0; i < 100; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        if (i % 2)
            assert_ptr_equal(strmap_get(&m, key, (size_t)n), &vals[i]);
        else
            assert_null(strmap_get(&m, key, (size_t)n));
    }
    strmap_clear(&m);
}

static void test_key_length_bound(void **state)
{
    (void)state;
    struct strmap m;
    strmap_init(&m);
    static char big[70000];
    int v = 0;
    assert_int_equal(strmap_put(&m, big, 65535, &v), 0);
    assert_int_equal(strmap_put(&m, big, 65536, &v), -1);
    assert_null(strmap_get(&m, big, 65536));
    assert_ptr_equal(strmap_get(&m, big, 65535), &v);
    strmap_clear(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace_del),
        cmocka_unit_test(test_binary_and_empty_keys),
        cmocka_unit_test(test_growth_keeps_everything),
        cmocka_unit_test(test_each_removes),
        cmocka_unit_test(test_key_length_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
