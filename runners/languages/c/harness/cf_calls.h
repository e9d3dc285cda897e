/* codefeedback C harness, `calls` tests: included by the generated driver (cf_calls.c in /work)
 * after the solution. It first #undefs every name it defines, so a macro in the solution cannot
 * change how a value is serialised. The driver calls, per case (each in its own forked child):
 *   CF_RET(f(args))               a scalar or `char *` return, serialised by its C type;
 *   CF_RET_LIST(f(args, &n), n)   an array return and the length the function set;
 *   f(args); cf_ret_none();       a `None` (void) return.
 */
#undef CF_RET
#undef CF_RET_LIST
#undef CF_KIND_
#undef CF_IS_PTR_

extern void cf_ret_none(void);
extern void cf_ret_i(long long v);
extern void cf_ret_u(unsigned long long v);
extern void cf_ret_b(int v);
extern void cf_ret_d(double v);
extern void cf_ret_ld(long double v);
extern void cf_ret_s(const char *s);
extern void cf_ret_other(const volatile void *p);
extern void cf_ret_list(const void *p, int len_set, long long n, int kind, unsigned long size);

#define CF_RET(x) \
    _Generic((x), \
        _Bool: cf_ret_b, \
        char: cf_ret_i, signed char: cf_ret_i, short: cf_ret_i, int: cf_ret_i, long: cf_ret_i, \
        long long: cf_ret_i, \
        unsigned char: cf_ret_u, unsigned short: cf_ret_u, unsigned int: cf_ret_u, \
        unsigned long: cf_ret_u, unsigned long long: cf_ret_u, \
        float: cf_ret_d, double: cf_ret_d, long double: cf_ret_ld, \
        char *: cf_ret_s, const char *: cf_ret_s, \
        default: cf_ret_other)(x)

/* 1 int, 2 unsigned, 3 bool, 4 double, 5 float, 6 long double, 7 string, 0 anything else */
#define CF_KIND_(e) \
    _Generic((e), \
        _Bool: 3, char: ((char)-1 < 0 ? 1 : 2), signed char: 1, short: 1, int: 1, long: 1, \
        long long: 1, \
        unsigned char: 2, unsigned short: 2, unsigned int: 2, unsigned long: 2, \
        unsigned long long: 2, \
        double: 4, float: 5, long double: 6, char *: 7, const char *: 7, default: 0)

#define CF_IS_PTR_(p) (__builtin_classify_type(p) == 5)

#define CF_RET_LIST(call, n) \
    do { \
        __typeof__(call) cf_p_ = (call); \
        _Static_assert(CF_IS_PTR_(cf_p_), "calls: the signature returns a list, so the function " \
                       "must return a pointer to its elements (and set *out_len)"); \
        cf_ret_list((const void *)cf_p_, (n).i[0] != -1, (long long)(n).i[0], \
                    CF_KIND_(*cf_p_), sizeof *cf_p_); \
    } while (0)
