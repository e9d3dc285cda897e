/* codefeedback C runtime hook for `io` and run-only programs (linked after the solution).
 *
 * A C program that runs out of memory mostly sees malloc return NULL and then crashes or exits
 * with an error. From .preinit_array this installs handlers for crash signals and an on_exit
 * hook that print "codefeedback: memory limit exceeded" on stderr when the process dies while
 * its data segment is at its RLIMIT_DATA, so the worker can report memory_limit. Nothing else
 * changes: the handler re-raises the signal, the exit status is unchanged.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cf_sys.h"

static char cf_rt_altstack[65536];

static long long cf_rt_vmdata_kb(void)
{
    char buf[4096];
    long fd = cf_sys4(SYS_openat, AT_FDCWD, (long)"/proc/self/status", O_RDONLY, 0);
    long n, i;
    if (fd < 0)
        return -1;
    n = cf_sys3(SYS_read, fd, (long)buf, sizeof buf - 1);
    cf_sys3(SYS_close, fd, 0, 0);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    for (i = 0; i < n; i++) {
        if ((i == 0 || buf[i - 1] == '\n') && cf_starts(buf + i, "VmData:")) {
            long long v = 0;
            const char *p = buf + i + 7;
            while (*p == ' ' || *p == '\t')
                p++;
            while (*p >= '0' && *p <= '9')
                v = v * 10 + (*p++ - '0');
            return v;
        }
    }
    return -1;
}

static void cf_rt_check(void)
{
    struct rlimit rl;
    long long used = cf_rt_vmdata_kb();
    static const char msg[] = "\ncodefeedback: memory limit exceeded (allocations failed near the limit)\n";
    if (getrlimit(RLIMIT_DATA, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || used < 0)
        return;
    if (used * 100 >= (long long)(rl.rlim_cur / 1024) * 85)
        cf_write_all(2, msg, sizeof msg - 1);
}

static void cf_rt_on_fatal(int sig)
{
    cf_rt_check();
    raise(sig);
}

static void cf_rt_on_exit(int status, void *arg)
{
    (void)arg;
    if (status != 0)
        cf_rt_check();
}

static void cf_rt_preinit(int argc, char **argv, char **envp)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT};
    struct sigaction sa;
    stack_t ss;
    unsigned i;
    (void)argc;
    (void)argv;
    (void)envp;
    ss.ss_sp = cf_rt_altstack;
    ss.ss_size = sizeof cf_rt_altstack;
    ss.ss_flags = 0;
    sigaltstack(&ss, 0);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cf_rt_on_fatal;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, 0);
    on_exit(cf_rt_on_exit, 0);
}

__attribute__((section(".preinit_array"), used))
static void (*cf_rt_preinit_entry)(int, char **, char **) = cf_rt_preinit;
