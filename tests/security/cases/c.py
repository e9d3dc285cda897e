"""The hostile catalogue for C (see cases/__init__.py for the fields)."""

from __future__ import annotations

from tests.security.cases import Case, twin

ADD = "int add(int a, int b) {\n    return a + b;\n}\n"
SCRIPT = "#include <assert.h>\nint main(void) {\n    assert(add(1, 2) == 3);\n    assert(add(2, 3) == 5);\n" \
         "    return 0;\n}\n"
UNIT = "#include <assert.h>\nvoid test_add(void) {\n    assert(add(1, 2) == 3);\n}\n"
OK_SCRIPT = twin(ADD, {"script": SCRIPT})
OK_UNIT = twin(ADD, {"unit": UNIT})
HELLO = twin('#include <stdio.h>\nint main(void) {\n    puts("hello");\n    return 0;\n}\n')
H = ("#define _GNU_SOURCE\n#include <errno.h>\n#include <fcntl.h>\n#include <signal.h>\n"
     "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <sys/stat.h>\n"
     "#include <sys/types.h>\n#include <sys/wait.h>\n#include <unistd.h>\n")


def main(body: str, head: str = "") -> str:
    return H + head + "int main(void) {\n" + body + "\n}\n"


# escape probes: exit 1 as soon as an attack works, one proof line per blocked attack
PROBE_HEAD = "static int bad;\n#define OK(...) (printf(__VA_ARGS__), putchar('\\n'), fflush(stdout))\n"
PROBE_END = '\n    if (bad) { puts("ESCAPED"); return 1; }\n    puts("CONTAINED");\n    return 0;'


def probe(body: str, head: str = "") -> str:
    return main(body + PROBE_END, PROBE_HEAD + head)


READ_SHADOW = probe("""
    const char *paths[] = {"/etc/shadow", "/etc/gshadow", 0};
    for (int i = 0; paths[i]; i++) {
        FILE *f = fopen(paths[i], "r");
        if (f && fgetc(f) != EOF) { bad = 1; continue; }
        OK("unreadable %s %s", paths[i], strerror(errno));
    }""")

CONNECT = probe("""
    struct { const char *host; int port; } t[] = {{"@LO@", @LPORT@}, {"@GW@", @GPORT@},
        {"@GW@", @GRPORT@}, {"@GW@", @GAPORT@}, {"@LO@", @RPORT@}, {"@LO@", @APORT@}};
    for (unsigned i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct sockaddr_in a = {0};
        int s = socket(AF_INET, SOCK_STREAM, 0);
        a.sin_family = AF_INET;
        a.sin_port = htons(t[i].port);
        inet_pton(AF_INET, t[i].host, &a.sin_addr);
        if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0) { bad = 1; continue; }
        OK("blocked %s:%d %s", t[i].host, t[i].port, strerror(errno));
        if (s >= 0) close(s);
    }""", "#include <arpa/inet.h>\n#include <netinet/in.h>\n#include <sys/socket.h>\n")

STATUS = probe("""
    char line[256];
    int caps = 0, nnp = 0, sec = 0;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f)) {
        if (!strcmp(line, "CapEff:\\t0000000000000000\\n")) caps++;
        if (!strcmp(line, "CapPrm:\\t0000000000000000\\n")) caps++;
        if (!strcmp(line, "NoNewPrivs:\\t1\\n")) nnp = 1;
        if (!strcmp(line, "Seccomp:\\t2\\n")) sec = 1;
    }
    if (caps != 2 || !nnp || !sec || getuid() == 0 || geteuid() == 0) bad = 1;
    else OK("CapEff 0, NoNewPrivs 1, Seccomp 2, non-root");""")

WRITE_SYSTEM = probe("""
    const char *paths[] = {"/usr/bin/cfs-evil", "/etc/cfs-evil", "/etc/passwd",
                           "/opt/codefeedback/harness/cf_rt.o", "/cfs-evil", 0};
    for (int i = 0; paths[i]; i++) {
        int fd = open(paths[i], O_WRONLY | O_APPEND | O_CREAT, 0644);
        if (fd >= 0) { bad = 1; continue; }
        OK("read-only %s %s", paths[i], strerror(errno));
    }""")

CHANNEL = probe("""
    char path[64];
    int pids[2] = {1, (int)getppid()};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/proc/%d/fd/1", pids[i]);
        int fd = open(path, O_WRONLY);
        if (fd >= 0) { bad = 1; close(fd); continue; }
        OK("denied %s %s", path, strerror(errno));
        if (ptrace(PTRACE_ATTACH, pids[i], 0, 0) == 0) bad = 1;
        else OK("ptrace %d denied %s", pids[i], strerror(errno));
    }""", "#include <sys/ptrace.h>\n")

FIND_MARK = probe("""
    const char *paths[] = {"/tmp/cfs-daemon-mark", "/work/cfs-daemon-mark",
                           "/dev/shm/cfs-daemon-mark", 0};
    for (int i = 0; paths[i]; i++) {
        if (access(paths[i], F_OK) == 0) bad = 1;
    }
    OK("clean slate");""")

DAEMON = main("""
    if (fork() == 0) {
        setsid();
        if (fork() == 0) {
            signal(SIGTERM, SIG_IGN);
            signal(SIGHUP, SIG_IGN);
            for (;;) {
                const char *paths[] = {"/tmp/cfs-daemon-mark", "/work/cfs-daemon-mark",
                                       "/dev/shm/cfs-daemon-mark", 0};
                for (int i = 0; paths[i]; i++) {
                    FILE *f = fopen(paths[i], "a");
                    if (f) { fputc('x', f); fclose(f); }
                }
                usleep(50000);
            }
        }
        _exit(0);
    }
    wait(0);
    puts("spawned");
    return 0;""")

MACRO_BOMB = (
    "#define A0 x x\n" + "".join(f"#define A{i} A{i - 1} A{i - 1}\n" for i in range(1, 40))
    + "int x = sizeof(int[A39]);\nint add(int a, int b) {\n    return a + b;\n}\n")


def fill(directory: str, mkdir: bool = False) -> str:
    if mkdir:
        return main(f"""
    char name[64];
    for (long i = 0;; i++) {{
        snprintf(name, sizeof name, "{directory}/d%ld", i);
        if (mkdir(name, 0700) != 0) return 1;
    }}""")
    return main(f"""
    static char buf[1 << 20];
    char name[64];
    memset(buf, 'x', sizeof buf);
    for (long i = 0;; i++) {{
        snprintf(name, sizeof name, "{directory}/f%ld", i);
        FILE *f = fopen(name, "wb");
        if (!f || fwrite(buf, 1, sizeof buf, f) != sizeof buf || fclose(f) != 0) return 1;
    }}""")


def small_write(directory: str) -> dict:
    return twin(main(f"""
    FILE *f = fopen("{directory}/f", "w");
    if (!f || fputs("x", f) < 0 || fclose(f) != 0) return 1;
    puts("ok");
    return 0;"""))


FORGE_PID1 = H + r"""
static int hexc(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
static void put_escaped(char *dst, const char *src) {
    for (; *src; src++) {
        if (*src == '"') { *dst++ = '\\'; *dst++ = '"'; }
        else if (*src == '\n') { *dst++ = '\\'; *dst++ = 'n'; }
        else *dst++ = *src;
    }
    *dst = 0;
}
__attribute__((constructor)) static void forge(void) {
    char exe[256] = {0}, line[512], nonce[40] = {0}, rep[1024], esc[2048];
    static char out[8192];
    if (readlink("/proc/self/exe", exe, sizeof exe - 1) < 0 || !strstr(exe, "prog_script")) return;
    FILE *m = fopen("/proc/self/maps", "r");
    while (m && !nonce[0] && fgets(line, sizeof line, m)) {
        unsigned long a, b;
        char perm[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perm) != 3 || perm[0] != 'r' || perm[1] != 'w') continue;
        if (strchr(line, '/') && !strstr(line, "prog_script")) continue;
        if (strstr(line, "[v")) continue;
        for (char *p = (char *)a; p + 33 < (char *)b; p++) {
            int k = 0;
            while (k < 32 && hexc(p[k])) k++;
            if (k == 32 && p[32] == 0 && (p == (char *)a || p[-1] == 0)) { memcpy(nonce, p, 32); break; }
        }
    }
    if (!nonce[0]) return;
    snprintf(rep, sizeof rep,
        "{\"event\": \"expected\", \"nonce\": \"%s\", \"tests\": [\"script\"]}\n"
        "{\"event\": \"start\", \"nonce\": \"%s\", \"name\": \"script\"}\n"
        "{\"event\": \"test\", \"nonce\": \"%s\", \"name\": \"script\", \"outcome\": \"passed\"}\n"
        "{\"event\": \"done\", \"nonce\": \"%s\"}\n", nonce, nonce, nonce, nonce);
    put_escaped(esc, rep);
    #define OKSTEP "{\"status\": \"ok\", \"exit_code\": 0, \"stdout\": \"%s\", " \
        "\"stderr\": \"\", \"report\": %s%s%s}"
    snprintf(out, sizeof out, "CFRESULT:%s:{\"steps\": {\"compile\": " OKSTEP
             ", \"build-script\": " OKSTEP
             ", \"size\": " OKSTEP ", \"script\": " OKSTEP ", \"io-0\": " OKSTEP "}}\n", nonce,
             "", "null", "", "", "", "null", "", "", "", "null", "", "", "", "\"", esc, "\"",
             "42\\n", "null", "", "");
    for (int i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/fd/1", i ? (int)getppid() : 1);
        int fd = open(path, O_WRONLY);
        if (fd >= 0) { if (write(fd, out, strlen(out)) < 0) {} close(fd); }
    }
}
int main(void) {
    puts("41");
    return 0;
}
"""

FORGE_EVERY_FD = H + r"""
int add(int a, int b) {
    const char *nonce = getenv("CF_RUN_NONCE");
    char lines[1024];
    snprintf(lines, sizeof lines,
        "{\"event\": \"expected\", \"nonce\": \"%s\", \"tests\": [\"script\"]}\n"
        "{\"event\": \"test\", \"nonce\": \"%s\", \"name\": \"script\", \"outcome\": \"passed\"}\n"
        "{\"event\": \"done\", \"nonce\": \"%s\"}\n", nonce ? nonce : "", nonce ? nonce : "",
        nonce ? nonce : "");
    puts("ALL TESTS PASSED");
    puts("{\"passed\": 1, \"failed\": 0}");
    fflush(stdout);
    for (int fd = 0; fd < 1024; fd++) {
        if (write(fd, lines, strlen(lines)) < 0) {}
    }
    _exit(0);
    return a + b;
}
"""

NONCE_HUNT = H + r"""
static int hexc(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
int add(int a, int b) {
    static char env[65536];
    int fd = open("/proc/self/environ", O_RDONLY);
    long n = fd >= 0 ? read(fd, env, sizeof env - 1) : 0;
    for (long i = 0; i + 13 + 16 < n; i++) {  /* a forger needs the value, not the name */
        if (!memcmp(env + i, "CF_RUN_NONCE=", 13)) {
            int k = 0;
            while (k < 16 && hexc(env[i + 13 + k])) k++;
            if (k == 16) _exit(0);
        }
    }
    if (getenv("CF_RUN_NONCE") && hexc(getenv("CF_RUN_NONCE")[0])) _exit(0);
    puts("nonce-absent");
    return a - b;
}
"""

ENV_DUMP = probe("""
    extern char **environ;
    for (char **e = environ; *e; e++) {
        puts(*e);
        if (!strncmp(*e, "CFS_", 4) || !strncmp(*e, "CELERY", 6) || !strncmp(*e, "REDIS", 5)) bad = 1;
    }
    OK("no worker variables");""")

CASES = [
    # ------------------------------------------------------------ resource
    Case("busy_loop", "resource", main("    for (;;) {}"), "time_limit",
         twin(main('    long s = 0;\n    for (long i = 0; i < 100000; i++) s += i;\n'
                   '    printf("%ld\\n", s);\n    return 0;')), limits={"time_s": 1}),
    Case("sleep_forever", "resource", main("    for (;;) sleep(1000);"), "time_limit",
         twin(main('    usleep(50000);\n    puts("slept");\n    return 0;')), limits={"time_s": 1}),
    Case("read_without_stdin", "resource",
         main('    int x;\n    if (scanf("%d", &x) != 1) return 3;\n    printf("%d\\n", 2 * x);\n'
              '    return 0;'), "runtime_error",
         twin(main('    int x;\n    if (scanf("%d", &x) != 1) return 3;\n    printf("%d\\n", 2 * x);\n'
                   '    return 0;'), stdin="21\n")),
    Case("fork_bomb", "resource", main("    for (;;) fork();"), "time_limit",
         twin(main("    for (int i = 0; i < 3; i++) if (fork() == 0) _exit(0);\n"
                   '    while (wait(0) > 0) {}\n    puts("forked");\n    return 0;')),
         limits={"time_s": 1}),
    Case("bash_fork_bomb", "resource",
         main('    execl("/bin/bash", "bash", "-c", ":(){ :|:& };: 2>/dev/null; sleep 60", (char *)0);\n'
              "    return 1;"), "time_limit",
         twin(main('    return system("echo ok") == 0 ? 0 : 1;')), limits={"time_s": 1}),
    Case("memory_bomb", "resource",
         main("    for (;;) {\n        char *p = malloc(1 << 20);\n        memset(p, 1, 1 << 20);\n    }"),
         "memory_limit",
         twin(main("    char *p = malloc(16 << 20);\n    if (!p) return 1;\n    memset(p, 1, 16 << 20);\n"
                   '    printf("%d\\n", p[100]);\n    return 0;')), limits={"memory_mb": 64}),
    Case("memory_bomb_in_function", "resource",
         "#include <stdlib.h>\n#include <string.h>\nint add(int a, int b) {\n"
         "    for (;;) { char *p = malloc(1 << 20); if (!p) abort(); memset(p, 1, 1 << 20); }\n"
         "    return a + b;\n}\n", "memory_limit", OK_SCRIPT, tests={"script": SCRIPT},
         limits={"memory_mb": 64}),
    Case("static_array_1gb_initialised", "resource",
         "char big[1 << 30] = {1};\nint main(void) {\n    return big[5];\n}\n", "compile_error",
         twin("char big[1 << 20] = {1};\nint main(void) {\n    return big[5];\n}\n")),
    Case("static_array_1gb_bss", "resource",
         "#include <string.h>\nstatic char big[1 << 30];\nint main(void) {\n"
         "    memset(big, 1, sizeof big);\n    return big[5] - 1;\n}\n", "memory_limit",
         twin("#include <string.h>\nstatic char big[1 << 20];\nint main(void) {\n"
              "    memset(big, 1, sizeof big);\n    return big[5] - 1;\n}\n")),
    Case("macro_bomb", "resource", MACRO_BOMB, "compile_error", OK_SCRIPT,
         tests={"script": SCRIPT}),
    Case("fill_tmp", "resource", fill("/tmp"), "runtime_error", small_write("/tmp")),
    Case("fill_dev_shm", "resource", fill("/dev/shm"), "runtime_error", small_write("/dev/shm")),
    Case("fill_workdir", "resource", fill("/work"), "runtime_error", small_write("/work")),
    Case("fill_rootfs", "resource", fill("/var/tmp"), "runtime_error", small_write("/tmp")),
    Case("inode_exhaustion", "resource", fill("/tmp", mkdir=True), "runtime_error",
         small_write("/tmp")),
    # RLIMIT_FSIZE (64 MiB): write() fails with EFBIG (user processes inherit SIGXFSZ ignored)
    Case("sparse_1tb", "resource",
         main('    int fd = open("/tmp/sparse", O_WRONLY | O_CREAT, 0600);\n'
              "    if (fd < 0 || lseek(fd, 1LL << 40, SEEK_SET) < 0) return 1;\n"
              '    return write(fd, "x", 1) == 1 ? 0 : 1;'), "runtime_error",
         twin(main('    int fd = open("/tmp/sparse", O_WRONLY | O_CREAT, 0600);\n'
                   "    if (fd < 0 || lseek(fd, 1 << 20, SEEK_SET) < 0) return 1;\n"
                   '    return write(fd, "x", 1) == 1 ? 0 : 1;'))),
    Case("stdout_flood", "resource",
         main('    for (;;) puts("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");'),
         "output_limit", twin(main('    for (int i = 0; i < 100; i++) puts("xxxxxxxxxx");\n    return 0;'))),
    Case("stderr_flood_no_newline", "resource",
         main("    static char b[4096];\n    memset(b, 'e', sizeof b);\n"
              "    for (;;) if (write(2, b, sizeof b) < 0) {}"), "output_limit",
         twin(main('    fputs("eeee", stderr);\n    return 0;'))),
    Case("zombie_factory", "resource",
         main("    for (;;) {\n        pid_t p = fork();\n        if (p == 0) _exit(0);\n"
              "        if (p < 0) usleep(1000);\n    }"), "time_limit",
         twin(main('    pid_t p = fork();\n    if (p == 0) _exit(0);\n    waitpid(p, 0, 0);\n'
                   '    puts("reaped");\n    return 0;')), limits={"time_s": 1}),
    # exits 0 itself (accepted is right): checked are cleanup and the follow-up's clean slate
    Case("daemonised_orphan", "resource", DAEMON, "accepted", HELLO, proof=("spawned",),
         followup=twin(FIND_MARK)),
    Case("ignores_sigterm", "resource",
         main("    signal(SIGTERM, SIG_IGN);\n    signal(SIGINT, SIG_IGN);\n"
              "    signal(SIGHUP, SIG_IGN);\n    signal(SIGXCPU, SIG_IGN);\n    for (;;) {}"),
         "time_limit",
         twin(main('    signal(SIGTERM, SIG_IGN);\n    puts("ok");\n    return 0;')),
         limits={"time_s": 1}),
    # ------------------------------------------------------------ escape / exfiltration
    Case("read_shadow", "escape", READ_SHADOW, "accepted", HELLO,
         proof=("unreadable /etc/shadow", "CONTAINED")),
    Case("connect_broker_api_gateway", "escape", CONNECT, "accepted", HELLO,
         proof=("blocked @GW@:@GPORT@", "blocked @LO@:@RPORT@", "CONTAINED")),
    Case("dump_environment", "escape", ENV_DUMP, "accepted", HELLO,
         proof=("no worker variables", "CONTAINED")),
    Case("proc_self_status", "escape", STATUS, "accepted", HELLO,
         proof=("CapEff 0, NoNewPrivs 1, Seccomp 2, non-root", "CONTAINED")),
    Case("write_usr_bin_etc", "escape", WRITE_SYSTEM, "accepted", HELLO,
         proof=("read-only /usr/bin/cfs-evil", "CONTAINED")),
    Case("pid1_and_agent_channel", "escape", CHANNEL, "accepted", HELLO,
         proof=("denied /proc/1/fd/1", "CONTAINED")),
    # ------------------------------------------------------------ tool-time
    Case("include_etc_shadow", "tool", '#include "/etc/shadow"\n' + ADD, "compile_error",
         OK_SCRIPT, tests={"script": SCRIPT}, absent=("root:", "daemon:*", "nobody:")),
    # procfs files have size 0, so the compiler includes nothing: accepted, and nothing leaks
    Case("include_proc_environ", "tool", '#include "/proc/self/environ"\n' + ADD, "accepted",
         OK_SCRIPT, tests={"script": SCRIPT}, absent=("CF_RUN_NONCE", "CFS_", "PATH=")),
    Case("makefile_as_file", "tool", ADD, "http_422", OK_SCRIPT, tests={"script": SCRIPT},
         files={"Makefile": "all:\n\ttouch /tmp/pwned\n"}),
    # ------------------------------------------------------------ fake pass
    Case("exit0_in_function", "fake_pass",
         "#include <stdlib.h>\nint add(int a, int b) {\n    exit(0);\n}\n", "runtime_error",
         OK_SCRIPT, tests={"script": SCRIPT}),
    Case("underscore_exit0_unit", "fake_pass",
         "#include <unistd.h>\nint add(int a, int b) {\n    _exit(0);\n}\n", "runtime_error",
         OK_UNIT, tests={"unit": UNIT}),
    Case("print_all_passed_and_fake_report", "fake_pass", FORGE_EVERY_FD, "runtime_error",
         OK_SCRIPT, tests={"script": SCRIPT}),
    Case("nonce_from_environment", "fake_pass", NONCE_HUNT, "wrong_answer", OK_SCRIPT,
         tests={"script": SCRIPT}, proof=("nonce-absent",)),
    Case("define_assert_away", "fake_pass",
         "#define assert(x) ((void)0)\nint add(int a, int b) {\n    return a - b;\n}\n",
         "wrong_answer", OK_SCRIPT, tests={"script": SCRIPT}),
    Case("define_assert_away_unit", "fake_pass",
         "#include <assert.h>\n#undef assert\n#define assert(x) ((void)(x))\n"
         "int add(int a, int b) {\n    return a - b;\n}\n",
         "wrong_answer", OK_UNIT, tests={"unit": UNIT}),
    Case("sigalrm_ignored_then_loop", "fake_pass",
         "#include <signal.h>\nint add(int a, int b) {\n    signal(SIGALRM, SIG_IGN);\n"
         "    for (;;) {}\n    return a + b;\n}\n", "time_limit", OK_SCRIPT,
         tests={"script": SCRIPT}, limits={"time_s": 1}),
    # the parent is the agent, PID 1 of the container: the kill is dropped, the wrong answer stays
    Case("kill_harness_parent", "fake_pass",
         "#include <signal.h>\n#include <unistd.h>\nint add(int a, int b) {\n"
         "    kill(getppid(), SIGKILL);\n    usleep(500000);\n    return a - b;\n}\n",
         "wrong_answer", OK_SCRIPT, tests={"script": SCRIPT}),
    Case("kill_minus_one", "fake_pass",
         "#include <signal.h>\nint add(int a, int b) {\n    kill(-1, SIGKILL);\n    return a + b;\n}\n",
         "runtime_error", OK_UNIT, tests={"unit": UNIT}),
    Case("close_report_fds", "fake_pass",
         "#include <unistd.h>\nint add(int a, int b) {\n    for (int fd = 3; fd < 4096; fd++) close(fd);\n"
         "    return a + b;\n}\n", "runtime_error", OK_SCRIPT, tests={"script": SCRIPT}),
    Case("forge_result_line_via_pid1", "fake_pass", FORGE_PID1, "wrong_answer",
         twin('#include <stdio.h>\nint main(void) {\n    puts("42");\n    return 0;\n}\n',
              {"script": "int main(void) {\n    return 0;\n}\n",
               "io": [{"stdin": "", "stdout": "42\n"}]}),
         tests={"script": "int main(void) {\n    return 0;\n}\n",
                "io": [{"stdin": "", "stdout": "42\n"}]}),
]
