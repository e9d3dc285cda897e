/* codefeedback C test header (shipped in the image as /opt/codefeedback/harness/cf_test.h).
 *
 * The generated test driver includes it after the solution and before the tests; test sources
 * do not include it themselves. It is re-includable on purpose and first #undefs every name it
 * defines, so macros in the solution (`#define assert(x)`, `#define CF_ASSERT(x)`, ...) cannot
 * change what the tests check. Assertion macros (each stops the test at its first failure):
 *
 *   assert(cond)                     C's assert; never disabled (NDEBUG is ignored)
 *   CF_ASSERT(cond)                  same, as a named check
 *   CF_ASSERT_EQ(actual, expected)   any integer, floating (relative/absolute 1e-9) or string
 *                                    (char *) type; reports both values
 *   CF_ASSERT_EQ_INT / _UINT / _DBL / _STR (actual, expected)
 *   CF_ASSERT_NEAR(actual, expected, tolerance)
 *   CF_ASSERT_EQ_MEM(actual, expected, size)
 *   CF_FAIL(message)
 *
 * Comparison helpers a check may call (strcmp, strncmp, memcmp, strlen, abs, labs, llabs, fabs,
 * fabsf, fabsl, isnan, isinf, isfinite) are the harness's own from here on: a solution that
 * defines its own `strcmp` returning 0 (or `fabs` returning 0) changes only its own calls.
 */
#undef NDEBUG
#undef assert
#undef __assert_fail
#undef __func__
#undef cf_fail
#undef cf_check_true
#undef cf_check_int
#undef cf_check_uint
#undef cf_check_dbl
#undef cf_check_near
#undef cf_check_str
#undef cf_check_mem
#undef CF_ASSERT
#undef CF_ASSERT_EQ
#undef CF_ASSERT_EQ_INT
#undef CF_ASSERT_EQ_UINT
#undef CF_ASSERT_EQ_DBL
#undef CF_ASSERT_EQ_STR
#undef CF_ASSERT_EQ_MEM
#undef CF_ASSERT_NEAR
#undef CF_FAIL
#undef CF_LOC_
#undef strcmp
#undef strncmp
#undef memcmp
#undef strlen
#undef abs
#undef labs
#undef llabs
#undef fabs
#undef fabsf
#undef fabsl
#undef isnan
#undef isinf
#undef isfinite

#ifndef CF_TEST_HELPERS_
#define CF_TEST_HELPERS_
#include <math.h>
#include <stdlib.h>
#include <string.h>
#define CF_HELPER_ static inline __attribute__((unused, optimize("no-tree-loop-distribute-patterns")))
CF_HELPER_ int cf_t_strncmp(const char *a, const char *b, unsigned long n)
{
    unsigned long i;
    for (i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x != y)
            return x < y ? -1 : 1;
        if (!x)
            return 0;
    }
    return 0;
}
CF_HELPER_ int cf_t_strcmp(const char *a, const char *b) { return cf_t_strncmp(a, b, -1UL); }
CF_HELPER_ int cf_t_memcmp(const void *a, const void *b, unsigned long n)
{
    const unsigned char *x = a, *y = b;
    unsigned long i;
    for (i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}
CF_HELPER_ unsigned long cf_t_strlen(const char *s)
{
    unsigned long n = 0;
    while (s[n])
        n++;
    return n;
}
CF_HELPER_ int cf_t_abs(int x) { return x < 0 ? -x : x; }
CF_HELPER_ long cf_t_labs(long x) { return x < 0 ? -x : x; }
CF_HELPER_ long long cf_t_llabs(long long x) { return x < 0 ? -x : x; }
CF_HELPER_ double cf_t_fabs(double x) { return __builtin_fabs(x); }
CF_HELPER_ float cf_t_fabsf(float x) { return __builtin_fabsf(x); }
CF_HELPER_ long double cf_t_fabsl(long double x) { return __builtin_fabsl(x); }
#endif
#define strcmp cf_t_strcmp
#define strncmp cf_t_strncmp
#define memcmp cf_t_memcmp
#define strlen cf_t_strlen
#define abs cf_t_abs
#define labs cf_t_labs
#define llabs cf_t_llabs
#define fabs cf_t_fabs
#define fabsf cf_t_fabsf
#define fabsl cf_t_fabsl
#define isnan(x) __builtin_isnan(x)
#define isinf(x) __builtin_isinf_sign(x)
#define isfinite(x) __builtin_isfinite(x)

#define CF_LOC_ __FILE__, __LINE__, __func__
#define assert(e) ((e) ? (void)0 : __assert_fail(#e, __FILE__, __LINE__, __func__))
#define CF_ASSERT(e) cf_check_true(CF_LOC_, "CF_ASSERT(" #e ")", (e) ? 1 : 0)
#define CF_ASSERT_EQ_INT(a, e) \
    cf_check_int(CF_LOC_, "CF_ASSERT_EQ_INT(" #a ", " #e ")", (long long)(a), (long long)(e))
#define CF_ASSERT_EQ_UINT(a, e) \
    cf_check_uint(CF_LOC_, "CF_ASSERT_EQ_UINT(" #a ", " #e ")", \
                  (unsigned long long)(a), (unsigned long long)(e))
#define CF_ASSERT_EQ_DBL(a, e) \
    cf_check_dbl(CF_LOC_, "CF_ASSERT_EQ_DBL(" #a ", " #e ")", (long double)(a), (long double)(e))
#define CF_ASSERT_NEAR(a, e, tol) \
    cf_check_near(CF_LOC_, "CF_ASSERT_NEAR(" #a ", " #e ", " #tol ")", (long double)(a), \
                  (long double)(e), (long double)(tol))
#define CF_ASSERT_EQ_STR(a, e) \
    cf_check_str(CF_LOC_, "CF_ASSERT_EQ_STR(" #a ", " #e ")", (a), (e))
#define CF_ASSERT_EQ_MEM(a, e, n) \
    cf_check_mem(CF_LOC_, "CF_ASSERT_EQ_MEM(" #a ", " #e ", " #n ")", (a), (e), (n))
#define CF_FAIL(msg) cf_fail(CF_LOC_, (msg), (const char *)0, (const char *)0)
#define CF_ASSERT_EQ(a, e) \
    _Generic((a), \
        char *: cf_check_str, const char *: cf_check_str, \
        float: cf_check_dbl, double: cf_check_dbl, long double: cf_check_dbl, \
        _Bool: cf_check_uint, unsigned char: cf_check_uint, unsigned short: cf_check_uint, \
        unsigned int: cf_check_uint, unsigned long: cf_check_uint, \
        unsigned long long: cf_check_uint, \
        default: cf_check_int)(CF_LOC_, "CF_ASSERT_EQ(" #a ", " #e ")", (a), (e))
