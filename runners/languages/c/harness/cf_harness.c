/* codefeedback C test harness: linked into every `script` and `unit` test program.
 *
 * Protocol (runners/report.py): one JSON object per line on the private channel (the fd named by
 * CF_REPORT_FD), each carrying the run nonce from CF_RUN_NONCE. Events: `expected` (sent from
 * .preinit_array, before any constructor or code of the solution runs), `start`, `test`, `done`.
 *
 * - The program is linked with -Wl,--wrap=main: the C runtime enters __wrap_main here, which
 *   runs the tests (the test file's own `main` for `script`, one forked child per test function
 *   for `unit`) and reports. The completion report is written only when the tests returned, so
 *   exit(0), _exit(0), a crash or a killed harness all leave a test without a passing result.
 * - __assert_fail is defined here: a failing assert anywhere (tests or solution) reports
 *   `failed` with the assertion text before it aborts (SIGABRT), as glibc's would.
 * - `calls` (suite kind 3): one forked child per case runs the generated case function, which
 *   calls the solution and hands its return value to cf_values.c; the value goes out as
 *   `call {index, value}` (JSON text), and a crash, exit or failed assert inside the call as
 *   `call {index, error, error_type}`. The worker knows the cases and compares the values.
 * - Report lines are written with a raw write(2) system call, unbuffered, so a crash right
 *   after a report cannot lose it; the nonce never passes through a libc function.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cf_sys.h"

extern const int cf_suite_kind; /* 1 = script, 2 = unit, 3 = calls */
extern const int cf_suite_count;
extern const char *const cf_suite_names[];
extern void (*const cf_suite_fns[])(void);
extern int __real_main(int, char **, char **) __attribute__((weak));

#define CF_SOLUTION "solution.c"
#define CF_MEMORY_MARKER "codefeedback: memory limit exceeded"

enum { CF_IDLE, CF_RUNNING, CF_FINISHED };

static int cf_fd = -1;
static char cf_nonce[80];
static volatile sig_atomic_t cf_state = CF_IDLE;
static const char *cf_current = "script";
static int cf_is_child;
static volatile unsigned char *cf_flags; /* unit: per-test "reported" flags, shared with children */
static int cf_index;
static const char *cf_err_type = "error"; /* calls: what ended a case without a value */
static struct timespec cf_t0;
static char cf_altstack[65536];

/* ------------------------------------------------------------------ JSON lines */
struct cf_buf {
    char data[16384];
    unsigned long len;
};

static void cf_raw(struct cf_buf *b, const char *s, unsigned long n)
{
    unsigned long i;
    for (i = 0; i < n && b->len < sizeof b->data - 8; i++)
        b->data[b->len++] = s[i];
}

static void cf_str(struct cf_buf *b, const char *s, unsigned long max)
{
    static const char hex[] = "0123456789abcdef";
    unsigned long i;
    cf_raw(b, "\"", 1);
    for (i = 0; s && s[i] && i < max && b->len < sizeof b->data - 16; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            cf_raw(b, e, 2);
        } else if (c == '\n') {
            cf_raw(b, "\\n", 2);
        } else if (c == '\t') {
            cf_raw(b, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            cf_raw(b, e, 6);
        } else {
            cf_raw(b, (const char *)&c, 1);
        }
    }
    cf_raw(b, "\"", 1);
}

static void cf_key(struct cf_buf *b, const char *key)
{
    cf_raw(b, ",", 1);
    cf_str(b, key, 64);
    cf_raw(b, ":", 1);
}

static void cf_kv_str(struct cf_buf *b, const char *key, const char *value)
{
    if (!value)
        return;
    cf_key(b, key);
    cf_str(b, value, 4000);
}

static void cf_kv_int(struct cf_buf *b, const char *key, long long value)
{
    char num[24];
    cf_key(b, key);
    cf_raw(b, num, (unsigned long)cf_itoa(value, num));
}

static void cf_begin(struct cf_buf *b, const char *event)
{
    b->len = 0;
    cf_raw(b, "{\"event\":", 9);
    cf_str(b, event, 64);
    cf_key(b, "nonce");
    cf_str(b, cf_nonce, sizeof cf_nonce);
}

static void cf_send(struct cf_buf *b)
{
    cf_raw(b, "}\n", 2);
    if (cf_fd >= 0)
        cf_write_all(cf_fd, b->data, b->len);
}

static long long cf_elapsed_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)(now.tv_sec - cf_t0.tv_sec) * 1000 + (now.tv_nsec - cf_t0.tv_nsec) / 1000000;
}

static void cf_emit_simple(const char *event)
{
    struct cf_buf b;
    cf_begin(&b, event);
    cf_send(&b);
}

static void cf_emit_test(const char *outcome, const char *message, const char *expected,
                         const char *actual, long long line)
{
    struct cf_buf b;
    cf_begin(&b, "test");
    cf_kv_str(&b, "name", cf_current);
    cf_kv_str(&b, "outcome", outcome);
    cf_kv_str(&b, "message", message);
    cf_kv_str(&b, "expected", expected);
    cf_kv_str(&b, "actual", actual);
    if (line > 0)
        cf_kv_int(&b, "line", line);
    cf_kv_int(&b, "duration_ms", cf_elapsed_ms());
    cf_send(&b);
}

/* `call {index, <key>: text}` for calls: the text (a value's JSON, or a message) is streamed in
   escaped chunks, so a value may be larger than one line buffer. */
static void cf_emit_call(const char *key, const char *text, unsigned long len, const char *etype)
{
    static const char hex[] = "0123456789abcdef";
    struct cf_buf b;
    unsigned long i;
    cf_begin(&b, "call");
    cf_kv_int(&b, "index", cf_index);
    cf_kv_int(&b, "duration_ms", cf_elapsed_ms());
    if (etype)
        cf_kv_str(&b, "error_type", etype);
    cf_key(&b, key);
    cf_raw(&b, "\"", 1);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (b.len > sizeof b.data - 32) {
            if (cf_fd >= 0)
                cf_write_all(cf_fd, b.data, b.len);
            b.len = 0;
        }
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            cf_raw(&b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            cf_raw(&b, e, 6);
        } else {
            cf_raw(&b, (const char *)&c, 1);
        }
    }
    cf_raw(&b, "\"", 1);
    cf_send(&b);
}

/* calls: the case's return value (JSON text from cf_values.c), or why it is not one. */
static void cf_call_end(const char *key, const char *text, unsigned long len)
{
    if (cf_state != CF_RUNNING || cf_suite_kind != 3)
        return;
    cf_state = CF_FINISHED;
    cf_emit_call(key, text, len, 0);
    if (cf_is_child && cf_flags)
        cf_flags[cf_index] = 1;
}

void cf_call_value(const char *json, unsigned long len)
{
    cf_call_end("value", json, len);
}

void cf_call_refused(const char *why)
{
    cf_call_end("refused", why, cf_strlen(why));
}

/* The end of a test in this process: record it, and in script mode the end of the run. */
static void cf_finish(const char *outcome, const char *message, const char *expected,
                      const char *actual, long long line)
{
    if (cf_state != CF_RUNNING)
        return;
    cf_state = CF_FINISHED;
    if (cf_suite_kind == 3) {
        const char *m = message ? message : "the call failed";
        cf_emit_call("error", m, cf_strlen(m), cf_err_type);
        if (cf_is_child && cf_flags)
            cf_flags[cf_index] = 2;
        return;
    }
    cf_emit_test(outcome, message, expected, actual, line);
    if (cf_is_child && cf_flags)
        cf_flags[cf_index] = cf_streq(outcome, "passed") ? 1 : 2;
    if (cf_suite_kind == 1)
        cf_emit_simple("done"); /* script: the end of the run; unit: the parent sends it */
}

/* ------------------------------------------------------------------ memory */
static long long cf_status_kb(const char *field)
{
    char buf[4096];
    long fd = cf_sys4(SYS_openat, AT_FDCWD, (long)"/proc/self/status", O_RDONLY, 0);
    long n, i;
    unsigned long flen = cf_strlen(field);
    if (fd < 0)
        return -1;
    n = cf_sys3(SYS_read, fd, (long)buf, sizeof buf - 1);
    cf_sys3(SYS_close, fd, 0, 0);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    for (i = 0; i < n; i++) {
        if ((i == 0 || buf[i - 1] == '\n') && cf_starts(buf + i, field)) {
            long long v = 0;
            const char *p = buf + i + flen;
            while (*p == ' ' || *p == '\t' || *p == ':')
                p++;
            while (*p >= '0' && *p <= '9')
                v = v * 10 + (*p++ - '0');
            return v;
        }
    }
    return -1;
}

static long long cf_data_limit_kb(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_DATA, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return -1;
    return (long long)(rl.rlim_cur / 1024);
}

/* True when this process's data segment is close to its RLIMIT_DATA (malloc fails there). */
static int cf_near_memory_limit(long long used_kb)
{
    long long limit = cf_data_limit_kb();
    if (used_kb < 0)
        used_kb = cf_status_kb("VmData");
    return limit > 0 && used_kb >= 0 && used_kb * 100 >= limit * 85;
}

/* ------------------------------------------------------------------ failures */
static const char *cf_signame(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV (segmentation fault: invalid memory access or stack overflow)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGFPE: return "SIGFPE (arithmetic error, e.g. integer division by zero)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGABRT: return "SIGABRT (abort)";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS (bad system call)";
    case SIGKILL: return "SIGKILL";
    case SIGXCPU: return "SIGXCPU (CPU time limit)";
    case SIGXFSZ: return "SIGXFSZ (file size limit)";
    case SIGPIPE: return "SIGPIPE";
    default: return "a signal";
    }
}

static const char *cf_sigshort(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
    case SIGKILL: return "SIGKILL";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGPIPE: return "SIGPIPE";
    default: return "signal";
    }
}

static void cf_append(char *dst, unsigned long cap, const char *s)
{
    unsigned long n = cf_strlen(dst);
    while (*s && n + 1 < cap)
        dst[n++] = *s++;
    dst[n] = 0;
}

static void cf_crash_message(char *msg, unsigned long cap, int sig, int memory)
{
    char num[24];
    msg[0] = 0;
    cf_append(msg, cap, "the program crashed: ");
    cf_append(msg, cap, cf_signame(sig));
    cf_itoa(sig, num);
    cf_append(msg, cap, " [signal ");
    cf_append(msg, cap, num);
    cf_append(msg, cap, "]");
    if (memory) {
        cf_append(msg, cap, "; " CF_MEMORY_MARKER " (allocations failed near the limit)");
    }
}

static void cf_on_fatal(int sig)
{
    if (cf_state == CF_RUNNING) {
        char msg[512];
        cf_err_type = cf_sigshort(sig);
        cf_crash_message(msg, sizeof msg, sig, cf_near_memory_limit(-1));
        cf_finish("error", msg, 0, 0, 0);
    }
    /* SA_RESETHAND restored the default action: re-raise so the process ends by this signal. */
    raise(sig);
}

static void cf_on_exit(int status, void *arg)
{
    (void)arg;
    if (cf_state == CF_RUNNING) {
        char msg[256], num[24];
        msg[0] = 0;
        cf_itoa(status, num);
        cf_err_type = "exit";
        cf_append(msg, sizeof msg, cf_suite_kind == 3 ? "the function called exit("
                                                      : "the program called exit(");
        cf_append(msg, sizeof msg, num);
        cf_append(msg, sizeof msg, cf_suite_kind == 3 ? ") instead of returning"
                                                      : ") before the tests finished");
        if (status != 0 && cf_near_memory_limit(-1))
            cf_append(msg, sizeof msg, "; " CF_MEMORY_MARKER);
        cf_finish("error", msg, 0, 0, 0);
    }
}

static void cf_install_handlers(void)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
    struct sigaction sa;
    stack_t ss;
    unsigned i;
    ss.ss_sp = cf_altstack;
    ss.ss_size = sizeof cf_altstack;
    ss.ss_flags = 0;
    sigaltstack(&ss, 0);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cf_on_fatal;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, 0);
}

static void cf_die_abort(void)
{
    sigset_t set;
    signal(SIGABRT, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, SIGABRT);
    sigprocmask(SIG_UNBLOCK, &set, 0);
    abort();
}

void cf_fail(const char *file, int line, const char *func, const char *message,
             const char *expected, const char *actual)
{
    char msg[2048], num[24];
    msg[0] = 0;
    cf_append(msg, sizeof msg, message ? message : "check failed");
    cf_append(msg, sizeof msg, " (at ");
    cf_append(msg, sizeof msg, file ? file : "?");
    cf_append(msg, sizeof msg, ":");
    cf_itoa(line, num);
    cf_append(msg, sizeof msg, num);
    if (func) {
        cf_append(msg, sizeof msg, ", in ");
        cf_append(msg, sizeof msg, func);
    }
    cf_append(msg, sizeof msg, ")");
    cf_err_type = "assertion failure";
    cf_finish("failed", msg, expected, actual,
              file && !cf_streq(file, CF_SOLUTION) ? line : 0);
    fprintf(stderr, "%s\n", msg);
    fflush(stdout);
    fflush(stderr);
    cf_die_abort();
    _exit(134);
}

void __assert_fail(const char *assertion, const char *file, unsigned int line,
                   const char *function)
{
    char msg[1600];
    msg[0] = 0;
    cf_append(msg, sizeof msg, "Assertion `");
    cf_append(msg, sizeof msg, assertion ? assertion : "?");
    cf_append(msg, sizeof msg, "' failed");
    cf_fail(file, (int)line, function, msg, 0, 0);
}

/* ------------------------------------------------------------------ checks with values */
static void cf_quote(char *dst, unsigned long cap, const char *s)
{
    unsigned long n = 0, i;
    if (!s) {
        snprintf(dst, cap, "NULL");
        return;
    }
    dst[n++] = '"';
    for (i = 0; s[i] && n + 6 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            dst[n++] = '\\';
            dst[n++] = (char)c;
        } else if (c == '\n') {
            dst[n++] = '\\';
            dst[n++] = 'n';
        } else if (c == '\t') {
            dst[n++] = '\\';
            dst[n++] = 't';
        } else if (c < 0x20) {
            n += (unsigned long)snprintf(dst + n, cap - n, "\\x%02x", c);
        } else {
            dst[n++] = (char)c;
        }
    }
    if (s[i])
        n += (unsigned long)snprintf(dst + n, cap - n, "...");
    if (n + 1 < cap)
        dst[n++] = '"';
    dst[n] = 0;
}

void cf_check_true(const char *file, int line, const char *func, const char *what, int ok)
{
    if (!ok)
        cf_fail(file, line, func, what, 0, 0);
}

void cf_check_int(const char *file, int line, const char *func, const char *what,
                  long long actual, long long expected)
{
    char a[32], e[32];
    if (actual == expected)
        return;
    snprintf(a, sizeof a, "%lld", actual);
    snprintf(e, sizeof e, "%lld", expected);
    cf_fail(file, line, func, what, e, a);
}

void cf_check_uint(const char *file, int line, const char *func, const char *what,
                   unsigned long long actual, unsigned long long expected)
{
    char a[32], e[32];
    if (actual == expected)
        return;
    snprintf(a, sizeof a, "%llu", actual);
    snprintf(e, sizeof e, "%llu", expected);
    cf_fail(file, line, func, what, e, a);
}

void cf_check_near(const char *file, int line, const char *func, const char *what,
                   long double actual, long double expected, long double tolerance)
{
    char a[64], e[64];
    long double diff = actual > expected ? actual - expected : expected - actual;
    if (actual == expected || diff <= tolerance)
        return;
    snprintf(a, sizeof a, "%.17Lg", actual);
    snprintf(e, sizeof e, "%.17Lg", expected);
    cf_fail(file, line, func, what, e, a);
}

void cf_check_dbl(const char *file, int line, const char *func, const char *what,
                  long double actual, long double expected)
{
    long double scale = expected < 0 ? -expected : expected;
    cf_check_near(file, line, func, what, actual, expected, 1e-9L * (scale > 1 ? scale : 1));
}

void cf_check_str(const char *file, int line, const char *func, const char *what,
                  const char *actual, const char *expected)
{
    char a[1100], e[1100];
    /* cf_streq, not strcmp: a solution can define its own strcmp (it would be called here) */
    if (actual == expected || (actual && expected && cf_streq(actual, expected)))
        return;
    cf_quote(a, sizeof a, actual);
    cf_quote(e, sizeof e, expected);
    cf_fail(file, line, func, what, e, a);
}

void cf_check_mem(const char *file, int line, const char *func, const char *what,
                  const void *actual, const void *expected, unsigned long size)
{
    const unsigned char *a = actual, *e = expected;
    unsigned long i = 0;
    if (a && e)
        while (i < size && a[i] == e[i])
            i++; /* not memcmp: the solution may define its own */
    if (size == 0 || (a && e && i == size))
        return;
    cf_fail(file, line, func, what, 0, 0);
}

/* ------------------------------------------------------------------ start-up */
static void cf_emit_expected(void)
{
    struct cf_buf b;
    int i;
    if (cf_suite_kind == 3)
        return; /* calls: the worker knows its cases */
    cf_begin(&b, "expected");
    cf_key(&b, "tests");
    cf_raw(&b, "[", 1);
    if (cf_suite_kind == 1) {
        cf_str(&b, "script", 64);
    } else {
        for (i = 0; i < cf_suite_count; i++) {
            if (i)
                cf_raw(&b, ",", 1);
            cf_str(&b, cf_suite_names[i], 300);
        }
    }
    cf_raw(&b, "]", 1);
    cf_send(&b);
}

/* Runs from .preinit_array: before every constructor, so before any code of the solution. */
static void cf_preinit(int argc, char **argv, char **envp)
{
    char **e, **keep = envp;
    int fd = -1;
    (void)argc;
    (void)argv;
    for (e = envp; e && *e; e++) {
        char *v = *e;
        if (cf_starts(v, "CF_REPORT_FD=")) {
            const char *p = v + 13;
            fd = 0;
            while (*p >= '0' && *p <= '9')
                fd = fd * 10 + (*p++ - '0');
        } else if (cf_starts(v, "CF_RUN_NONCE=")) {
            char *p = v + 13;
            unsigned long n = 0;
            while (*p && n + 1 < sizeof cf_nonce) {
                char c = *p;
                if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
                    cf_nonce[n++] = c;
                *p++ = 'x'; /* scrub it from the process's memory (and /proc/self/environ) */
            }
            while (*p)
                *p++ = 'x';
            cf_nonce[n] = 0;
        } else {
            *keep++ = v;
            continue;
        }
    }
    /* Drop both variables from the environment array in place (it is the process's environ;
       libc's unsetenv cannot be used this early, and the solution could replace it). */
    if (keep)
        *keep = 0;
    if (fd >= 0) {
        long hi = cf_sys3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 700);
        if (hi >= 0) {
            cf_sys3(SYS_close, fd, 0, 0);
            cf_fd = (int)hi;
        }
    }
    cf_emit_expected();
}

__attribute__((section(".preinit_array"), used))
static void (*cf_preinit_entry)(int, char **, char **) = cf_preinit;

/* ------------------------------------------------------------------ runners */
static long long cf_oom_kills(void)
{
    char buf[2048];
    long fd = cf_sys4(SYS_openat, AT_FDCWD, (long)"/sys/fs/cgroup/memory.events", O_RDONLY, 0);
    long n, i;
    if (fd < 0)
        return -1;
    n = cf_sys3(SYS_read, fd, (long)buf, sizeof buf - 1);
    cf_sys3(SYS_close, fd, 0, 0);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    for (i = 0; i < n; i++) {
        if ((i == 0 || buf[i - 1] == '\n') && cf_starts(buf + i, "oom_kill ")) {
            long long v = 0;
            const char *p = buf + i + 9;
            while (*p >= '0' && *p <= '9')
                v = v * 10 + (*p++ - '0');
            return v;
        }
    }
    return -1;
}

static int cf_run_script(int argc, char **argv, char **envp)
{
    int rc;
    if (!__real_main) {
        cf_emit_simple("done");
        return 2;
    }
    cf_install_handlers();
    on_exit(cf_on_exit, 0);
    {
        struct cf_buf b;
        cf_begin(&b, "start");
        cf_kv_str(&b, "name", "script");
        cf_send(&b);
    }
    clock_gettime(CLOCK_MONOTONIC, &cf_t0);
    cf_current = "script";
    cf_state = CF_RUNNING;
    rc = __real_main(argc, argv, envp);
    if (rc == 0) {
        cf_finish("passed", 0, 0, 0, 0);
    } else {
        char msg[128], num[24];
        msg[0] = 0;
        cf_itoa(rc, num);
        cf_append(msg, sizeof msg, "the test program's main returned ");
        cf_append(msg, sizeof msg, num);
        cf_append(msg, sizeof msg, " (non-zero: the tests report a failure)");
        cf_finish("failed", msg, 0, 0, 0);
    }
    return rc;
}

static int cf_run_unit(void)
{
    int i, failed = 0;
    unsigned long size = (unsigned long)(cf_suite_count > 0 ? cf_suite_count : 1);
    void *flags = mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (flags == MAP_FAILED) {
        cf_emit_simple("done");
        return 2;
    }
    cf_flags = flags;
    cf_install_handlers();
    on_exit(cf_on_exit, 0);
    for (i = 0; i < cf_suite_count; i++) {
        struct cf_buf b;
        struct rusage ru;
        long long oom_before;
        pid_t pid;
        int status = 0;
        cf_current = cf_suite_names[i];
        cf_index = i;
        cf_begin(&b, "start");
        if (cf_suite_kind == 3)
            cf_kv_int(&b, "index", i);
        else
            cf_kv_str(&b, "name", cf_current);
        cf_send(&b);
        fflush(stdout);
        fflush(stderr);
        oom_before = cf_oom_kills();
        clock_gettime(CLOCK_MONOTONIC, &cf_t0);
        pid = fork();
        if (pid == 0) {
            cf_is_child = 1;
            cf_state = CF_RUNNING;
            cf_suite_fns[i]();
            if (cf_suite_kind == 3)
                cf_err_type = "internal";
            cf_finish("passed", cf_suite_kind == 3 ? "the case reported no value" : 0, 0, 0, 0);
            fflush(stdout);
            fflush(stderr);
            _exit(0);
        }
        if (pid < 0) {
            cf_state = CF_RUNNING;
            cf_err_type = "fork";
            cf_finish("error", "could not start the test (fork failed)", 0, 0, 0);
            cf_state = CF_IDLE;
            failed = 1;
            continue;
        }
        memset(&ru, 0, sizeof ru);
        while (wait4(pid, &status, 0, &ru) < 0) {
            /* EINTR: retry */
        }
        if (cf_flags[i] == 0) {
            char msg[512], num[24];
            msg[0] = 0;
            if (WIFSIGNALED(status)) {
                int sig = WTERMSIG(status);
                long long oom_after = cf_oom_kills();
                int memory = (sig == SIGKILL && oom_before >= 0 && oom_after > oom_before) ||
                             cf_near_memory_limit(ru.ru_maxrss);
                cf_crash_message(msg, sizeof msg, sig, memory);
                cf_err_type = cf_sigshort(sig);
            } else {
                cf_itoa(WEXITSTATUS(status), num);
                cf_append(msg, sizeof msg, cf_suite_kind == 3 ? "the function exited (exit code "
                                                              : "the test exited early (exit code ");
                cf_append(msg, sizeof msg, num);
                cf_append(msg, sizeof msg, cf_suite_kind == 3 ? ", e.g. _exit) instead of returning"
                                                              : ", e.g. _exit) before it finished");
                cf_err_type = "exit";
            }
            cf_state = CF_RUNNING;
            cf_finish("error", msg, 0, 0, 0);
        }
        if (cf_flags[i] != 1)
            failed = 1;
        cf_state = CF_IDLE;
    }
    cf_emit_simple("done");
    return failed;
}

int __wrap_main(int argc, char **argv, char **envp)
{
    if (cf_suite_kind == 2 || cf_suite_kind == 3)
        return cf_run_unit();
    return cf_run_script(argc, argv, envp);
}
