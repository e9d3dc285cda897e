/* codefeedback C harness: raw system calls and small string helpers.
 *
 * The harness is linked into the same executable as untrusted code, which can define any libc
 * symbol (write, memcpy, strncmp, ...) and so interpose on the harness's libc calls. Everything
 * that touches the report channel or the run nonce therefore uses only the static functions here
 * and inline-asm system calls: no libc function ever sees the nonce. An interposed libc function
 * elsewhere can only make the harness fail, and a harness that fails reports nothing, which the
 * worker treats as a failed run (fail closed).
 */
#ifndef CF_SYS_H
#define CF_SYS_H

#include <sys/syscall.h>
#include <unistd.h>

static inline long cf_sys3(long n, long a, long b, long c)
{
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
#else
    return syscall(n, a, b, c);
#endif
}

static inline long cf_sys4(long n, long a, long b, long c, long d)
{
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
#else
    return syscall(n, a, b, c, d);
#endif
}

static inline void cf_write_all(int fd, const char *p, unsigned long n)
{
    while (n > 0) {
        long w = cf_sys3(SYS_write, fd, (long)p, (long)n);
        if (w == -4 /* EINTR */)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (unsigned long)w;
    }
}

static inline unsigned long cf_strlen(const char *s)
{
    unsigned long n = 0;
    if (!s)
        return 0;
    while (s[n])
        n++;
    return n;
}

static inline int cf_starts(const char *s, const char *prefix)
{
    while (*prefix) {
        if (*s++ != *prefix++)
            return 0;
    }
    return 1;
}

static inline int cf_streq(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

/* Decimal rendering of a signed integer into buf (at least 24 bytes); returns its length. */
static inline int cf_itoa(long long v, char *buf)
{
    char tmp[24];
    int n = 0, len = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    buf[len] = 0;
    return len;
}

#endif
