/* codefeedback C harness, `calls` tests: a case's return value, serialised as plain JSON inside
 * the sandbox (linked only into `calls` programs, next to cf_harness.o).
 *
 * The generated driver calls the solution's function in a forked child (cf_harness.c) and hands
 * the result to one of the cf_ret_* functions below, chosen by the value's C type with _Generic
 * (cf_calls.h). The JSON text goes to the worker on the private channel (`call {index, value}`);
 * the worker compares it with the expected value, which never enters the sandbox. So the text
 * here only has to be an honest picture of the C value:
 *   integers -> JSON integers (signed or unsigned, any width), `bool` -> true/false,
 *   float/double/long double -> %.17g (always with a '.' or an exponent), NaN, Infinity,
 *   `char *` -> a JSON string (NULL -> null; bytes that are not UTF-8 are refused),
 *   arrays (pointer + *out_len) -> a JSON list of the elements above (NULL -> null).
 * A value larger than CF_VALUE_MAX bytes of JSON is refused.
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "cf_sys.h"

void cf_call_value(const char *json, unsigned long len);
void cf_call_refused(const char *why);

#define CF_VALUE_MAX (1UL << 20)
#define CF_LIST_MAX 10000000LL

static char cf_v[CF_VALUE_MAX + 8];
static unsigned long cf_vn;
static const char *cf_bad; /* why the value is refused, if it is */

static void cf_put(const char *s, unsigned long n)
{
    unsigned long i;
    if (cf_vn + n > CF_VALUE_MAX) {
        if (!cf_bad)
            cf_bad = "a value larger than 1 MB of JSON (refused)";
        return;
    }
    for (i = 0; i < n; i++)
        cf_v[cf_vn++] = s[i];
}

static void cf_put_ll(long long v)
{
    char b[24];
    cf_put(b, (unsigned long)cf_itoa(v, b));
}

static void cf_put_ull(unsigned long long v)
{
    char tmp[24], b[24];
    int n = 0, len = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    while (n)
        b[len++] = tmp[--n];
    cf_put(b, (unsigned long)len);
}

static void cf_put_dbl(double v)
{
    char b[48];
    int n, i, plain = 1;
    if (__builtin_isnan(v)) {
        cf_put("NaN", 3);
        return;
    }
    if (__builtin_isinf(v)) {
        if (v > 0)
            cf_put("Infinity", 8);
        else
            cf_put("-Infinity", 9);
        return;
    }
    n = snprintf(b, sizeof b - 3, "%.17g", v);
    if (n <= 0 || n >= (int)sizeof b - 3) {
        cf_bad = "a floating-point value that could not be printed";
        return;
    }
    for (i = 0; i < n; i++)
        if (b[i] == '.' || b[i] == 'e' || b[i] == 'E')
            plain = 0;
    if (plain) { /* 3 -> 3.0: a double stays a JSON float */
        b[n++] = '.';
        b[n++] = '0';
    }
    cf_put(b, (unsigned long)n);
}

/* The length of the valid UTF-8 sequence at s (0 if invalid). */
static int cf_utf8_len(const unsigned char *s)
{
    int n, i;
    unsigned c = s[0];
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

static void cf_put_str(const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    if (!s) {
        cf_put("null", 4);
        return;
    }
    cf_put("\"", 1);
    while (*p && !cf_bad) {
        unsigned c = *p;
        int n;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            cf_put(e, 2);
            p++;
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            cf_put(e, 6);
            p++;
        } else if ((n = cf_utf8_len(p)) > 0) {
            cf_put((const char *)p, (unsigned long)n);
            p += n;
        } else {
            cf_bad = "a string that is not valid UTF-8 (refused: JSON strings are Unicode)";
        }
    }
    cf_put("\"", 1);
}

static void cf_end(void)
{
    if (cf_bad)
        cf_call_refused(cf_bad);
    else
        cf_call_value(cf_v, cf_vn);
    cf_vn = 0;
    cf_bad = 0;
}

void cf_ret_none(void)
{
    cf_put("null", 4);
    cf_end();
}

void cf_ret_i(long long v)
{
    cf_put_ll(v);
    cf_end();
}

void cf_ret_u(unsigned long long v)
{
    cf_put_ull(v);
    cf_end();
}

void cf_ret_b(int v)
{
    if (v)
        cf_put("true", 4);
    else
        cf_put("false", 5);
    cf_end();
}

void cf_ret_d(double v)
{
    cf_put_dbl(v);
    cf_end();
}

void cf_ret_ld(long double v)
{
    cf_put_dbl((double)v);
    cf_end();
}

void cf_ret_s(const char *s)
{
    cf_put_str(s);
    cf_end();
}

void cf_ret_other(const volatile void *p)
{
    (void)p;
    cf_call_refused("a value of a C type that is not the signature's (a pointer, where the "
                    "signature asks for a number, bool or str)");
}

/* Element kinds of a returned array (cf_calls.h computes them with _Generic). */
enum { CF_K_BAD, CF_K_INT, CF_K_UINT, CF_K_BOOL, CF_K_DBL, CF_K_FLT, CF_K_LDBL, CF_K_STR };

void cf_ret_list(const void *p, int len_set, long long n, int kind, unsigned long size)
{
    const char *base = (const char *)p;
    long long i;
    if (!p) {
        cf_ret_none();
        return;
    }
    if (kind == CF_K_BAD) {
        cf_call_refused("an array of a C element type the signature does not allow");
        return;
    }
    if (!len_set) {
        cf_call_refused("an array, but the function did not set *out_len (its last parameter)");
        return;
    }
    if (n < 0 || n > CF_LIST_MAX) {
        char msg[120] = "an array with an impossible *out_len: ";
        char num[24];
        unsigned long at = cf_strlen(msg), k;
        cf_itoa(n, num);
        for (k = 0; num[k] && at + 1 < sizeof msg; k++)
            msg[at++] = num[k];
        msg[at] = 0;
        cf_call_refused(msg);
        return;
    }
    cf_put("[", 1);
    for (i = 0; i < n && !cf_bad; i++) {
        const char *e = base + (unsigned long)i * size;
        if (i)
            cf_put(", ", 2);
        switch (kind) {
        case CF_K_INT:
            if (size == 1)
                cf_put_ll(*(const signed char *)e);
            else if (size == 2)
                cf_put_ll(*(const short *)e);
            else if (size == 4)
                cf_put_ll(*(const int *)e);
            else
                cf_put_ll(*(const long long *)e);
            break;
        case CF_K_UINT:
            if (size == 1)
                cf_put_ull(*(const unsigned char *)e);
            else if (size == 2)
                cf_put_ull(*(const unsigned short *)e);
            else if (size == 4)
                cf_put_ull(*(const unsigned int *)e);
            else
                cf_put_ull(*(const unsigned long long *)e);
            break;
        case CF_K_BOOL:
            if (*(const _Bool *)e)
                cf_put("true", 4);
            else
                cf_put("false", 5);
            break;
        case CF_K_DBL:
            cf_put_dbl(*(const double *)e);
            break;
        case CF_K_FLT:
            cf_put_dbl((double)*(const float *)e);
            break;
        case CF_K_LDBL:
            cf_put_dbl((double)*(const long double *)e);
            break;
        default:
            cf_put_str(*(const char *const *)e);
            break;
        }
    }
    cf_put("]", 1);
    cf_end();
}
