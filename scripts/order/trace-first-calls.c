// trace-first-calls: runs a command under ptrace with a breakpoint (int3) on the first byte of
// every function of its executable, and writes each function's address the first time any
// thread enters it, in that order. Each breakpoint fires once: the original byte goes back and
// the thread resumes, so the program runs at full speed once its code has been seen.
//
//   trace-first-calls FUNCTIONS OUT SECONDS -- COMMAND [ARGS...]
//
// FUNCTIONS holds one hexadecimal address per line: a function's address in the executable as
// `nm` prints it (the load address is added here). After SECONDS the command is killed and OUT
// gets the addresses entered, in first-entry order, one per line. Linux x86-64 only; used by
// scripts/order/make-order-file.sh.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t expired = 0;
static void on_alarm(int sig) { (void)sig; expired = 1; }

static int compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what) { perror(what); exit(2); }

// The start of the executable's mapping at file offset 0: the address nm's 0 lands on (PIE).
static uint64_t load_base(pid_t pid) {
    char path[64], exe[PATH_MAX], line[PATH_MAX + 128];
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    if (n < 0) die("readlink exe");
    exe[n] = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *maps = fopen(path, "r");
    if (!maps) die("open maps");
    uint64_t base = 0;
    while (fgets(line, sizeof line, maps)) {
        uint64_t start, end, offset;
        char perms[8], name[PATH_MAX] = "";
        if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %*s %4095s", &start, &end, perms, &offset, name) >= 4
            && offset == 0 && strcmp(name, exe) == 0) {
            base = start;
            break;
        }
    }
    fclose(maps);
    if (!base) { fprintf(stderr, "no mapping of %s\n", exe); exit(2); }
    return base;
}

int main(int argc, char **argv) {
    if (argc < 6 || strcmp(argv[4], "--") != 0) {
        fprintf(stderr, "usage: %s FUNCTIONS OUT SECONDS -- COMMAND [ARGS...]\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (!in) die(argv[1]);
    size_t count = 0, capacity = 1 << 16;
    uint64_t *addresses = malloc(capacity * sizeof *addresses);
    char line[64];
    while (fgets(line, sizeof line, in)) {
        if (count == capacity) addresses = realloc(addresses, (capacity *= 2) * sizeof *addresses);
        addresses[count++] = strtoull(line, NULL, 16);
    }
    fclose(in);
    qsort(addresses, count, sizeof *addresses, compare);
    unsigned char *original = malloc(count), *hit = calloc(count, 1);
    uint64_t *order = malloc(count * sizeof *order);
    size_t hits = 0;

    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        execvp(argv[5], argv + 5);
        _exit(127);
    }
    int status;
    if (waitpid(child, &status, 0) < 0 || !WIFSTOPPED(status)) die("exec");
    ptrace(PTRACE_SETOPTIONS, child, NULL, (void *)(PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL));
    uint64_t base = load_base(child);

    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", child);
    int mem = open(path, O_RDWR);
    if (mem < 0) die("open mem");
    const unsigned char trap = 0xCC;
    size_t armed = 0;
    for (size_t i = 0; i < count; i++) {
        if (pread(mem, &original[i], 1, (off_t)(base + addresses[i])) != 1) { hit[i] = 2; continue; }
        if (pwrite(mem, &trap, 1, (off_t)(base + addresses[i])) != 1) { hit[i] = 2; continue; }
        armed++;
    }
    fprintf(stderr, "trace-first-calls: %zu breakpoints at base 0x%" PRIx64 "\n", armed, base);

    struct sigaction action = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &action, NULL);  // no SA_RESTART: waitpid returns EINTR
    alarm((unsigned)atoi(argv[3]));
    ptrace(PTRACE_CONT, child, NULL, NULL);

    while (!expired) {
        pid_t thread = waitpid(-1, &status, __WALL);
        if (thread < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (thread == child) break;
            continue;
        }
        if (!WIFSTOPPED(status)) continue;
        int signal_number = WSTOPSIG(status), deliver = 0;
        if (status >> 16) {
            deliver = 0;  // a clone event; the new thread reports its own SIGSTOP
        } else if (signal_number == SIGTRAP) {
            struct user_regs_struct regs;
            if (ptrace(PTRACE_GETREGS, thread, NULL, &regs) == 0) {
                uint64_t at = regs.rip - 1 - base;
                uint64_t *found = bsearch(&at, addresses, count, sizeof *addresses, compare);
                if (found) {
                    size_t i = (size_t)(found - addresses);
                    if (!hit[i]) {
                        hit[i] = 1;
                        order[hits++] = at;
                        if (pwrite(mem, &original[i], 1, (off_t)(base + at)) != 1) die("restore");
                    }
                    regs.rip -= 1;
                    ptrace(PTRACE_SETREGS, thread, NULL, &regs);
                } else {
                    deliver = SIGTRAP;
                }
            }
        } else if (signal_number != SIGSTOP) {
            deliver = signal_number;
        }
        ptrace(PTRACE_CONT, thread, NULL, (void *)(intptr_t)deliver);
    }
    kill(child, SIGKILL);
    FILE *out = fopen(argv[2], "w");
    if (!out) die(argv[2]);
    for (size_t i = 0; i < hits; i++) fprintf(out, "%" PRIx64 "\n", order[i]);
    fclose(out);
    fprintf(stderr, "trace-first-calls: %zu of %zu functions entered\n", hits, armed);
    return 0;
}
