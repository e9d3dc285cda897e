/* codefeedback C harness: included by the generated test driver BEFORE the solution.
 *
 * It declares every harness entry point with external linkage, so a solution that defines one
 * of them `static` (to replace the harness's version) is a compile error, and a non-static
 * definition is a duplicate-symbol link error: both end as compile_error, never as a pass.
 */
/* No system header here: the solution comes next, and its own `#define _GNU_SOURCE` (or any
 * feature macro) must still be the first thing glibc's headers see. */

extern void __assert_fail(const char *assertion, const char *file, unsigned int line,
                          const char *function) __attribute__((__noreturn__));
extern void cf_fail(const char *file, int line, const char *func, const char *message,
                    const char *expected, const char *actual) __attribute__((__noreturn__));
extern void cf_check_true(const char *file, int line, const char *func, const char *what,
                          int ok);
extern void cf_check_int(const char *file, int line, const char *func, const char *what,
                         long long actual, long long expected);
extern void cf_check_uint(const char *file, int line, const char *func, const char *what,
                          unsigned long long actual, unsigned long long expected);
extern void cf_check_dbl(const char *file, int line, const char *func, const char *what,
                         long double actual, long double expected);
extern void cf_check_near(const char *file, int line, const char *func, const char *what,
                          long double actual, long double expected, long double tolerance);
extern void cf_check_str(const char *file, int line, const char *func, const char *what,
                         const char *actual, const char *expected);
extern void cf_check_mem(const char *file, int line, const char *func, const char *what,
                         const void *actual, const void *expected, unsigned long size);
extern void cf_call_value(const char *json, unsigned long len);
extern void cf_call_refused(const char *why);
extern void cf_ret_none(void);
extern void cf_ret_i(long long v);
extern void cf_ret_u(unsigned long long v);
extern void cf_ret_b(int v);
extern void cf_ret_d(double v);
extern void cf_ret_ld(long double v);
extern void cf_ret_s(const char *s);
extern void cf_ret_other(const volatile void *p);
extern void cf_ret_list(const void *p, int len_set, long long n, int kind, unsigned long size);
extern const int cf_suite_kind;
extern const int cf_suite_count;
extern const char *const cf_suite_names[];
extern void (*const cf_suite_fns[])(void);
