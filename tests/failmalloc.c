/*
 * failmalloc.c -- an LD_PRELOAD shim that makes one of gradproof's own
 * allocations fail, for tests/oom.sh.
 *
 * malloc, calloc, realloc and strdup (the allocators lib/ and cli/ call;
 * they call no posix_memalign, aligned_alloc, strndup or reallocarray) are
 * wrapped.  A call counts when its caller (the return address) lies in the
 * main executable: the gradproof binary, with the static library linked in.
 * Calls from shared libraries (libc itself, GMP, MPFR, FLINT, nauty) pass
 * through uncounted.
 *
 * The executable's calls are of two kinds, told apart by the stack the first
 * time a call site is seen: "own" calls, made by gradproof's code on its own
 * account, and "hook" calls, made by allocation functions of the executable
 * that a shared library calls back (the functions cli/main.c hands to
 * mp_set_memory_functions and FLINT: the first frame above the executable's
 * frames is then in GMP or FLINT, not in libc).  They are counted apart, so
 * that the many small allocations of GMP do not drown gradproof's own.
 *
 *   GP_FAILMALLOC_N=N        the Nth own call (from 1) returns NULL with errno
 *                            ENOMEM; every other call succeeds
 *   GP_FAILMALLOC_HOOK_N=N   the same for the Nth hook call
 *   GP_FAILMALLOC_COUNT=FILE at exit, "OWN HOOK": the numbers of calls
 *   GP_FAILMALLOC_SITES=FILE at exit, one line per call site (return address
 *                            relative to the load address, for addr2line):
 *                            "ADDR FIRST CALLS KIND", FIRST the number of its
 *                            first call among those of its KIND (own, hook),
 *                            CALLS how many calls it made
 *   GP_FAILMALLOC_LOG=FILE   when a call is made to fail, its kind, size and
 *                            the executable's frames of its stack (for
 *                            addr2line) go to FILE
 *
 * gradproof is single-threaded, so the counters are plain variables.  dlsym
 * may call calloc before the real one is known: such requests are served
 * from a static buffer, which free and realloc recognise.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static char *(*real_strdup)(const char *);

/* for the allocations of dlsym while the real functions are looked up */
static _Alignas(max_align_t) char boot[8192];
static size_t boot_used;
static int resolving, ready;

/* the main executable: its load address and the span of its segments */
static uintptr_t exe_base, exe_lo, exe_hi;
/* the object libc is loaded at (dladdr's dli_fbase) */
static void *libc_base;

enum { OWN, HOOK };
static const char *const kind_name[] = {"own", "hook"};
static unsigned long long count[2], fail_at[2];
static const char *count_file, *log_file, *sites_file;

/* the call sites seen, an open-addressing table (no allocation here) */
enum { NSITES = 1 << 14 };
static struct site {
    uintptr_t addr;
    int kind;
    unsigned long long first, calls;
} sites[NSITES];
static size_t nsites;

static int is_boot(const void *p) { return (const char *)p >= boot && (const char *)p < boot + sizeof boot; }
static int in_exe(uintptr_t a) { return a >= exe_lo && a < exe_hi; }

static void *boot_alloc(size_t n)
{
    size_t a = sizeof(max_align_t);
    n = (n + a - 1) / a * a;
    if (n > sizeof boot - boot_used)
        return NULL;
    void *p = boot + boot_used;
    boot_used += n;
    return p; /* static storage: already zero */
}

static int find_exe(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    /* the first object is the main program (its name is empty) */
    exe_base = info->dlpi_addr;
    exe_lo = UINTPTR_MAX;
    exe_hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (lo < exe_lo)
            exe_lo = lo;
        if (hi > exe_hi)
            exe_hi = hi;
    }
    return 1;
}

static unsigned long long env_ull(const char *name)
{
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 10) : 0;
}

static void init(void)
{
    if (ready || resolving)
        return;
    resolving = 1;
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    real_strdup = (char *(*)(const char *))dlsym(RTLD_NEXT, "strdup");
    dl_iterate_phdr(find_exe, NULL);
    Dl_info di;
    if (real_malloc && dladdr((void *)real_malloc, &di))
        libc_base = di.dli_fbase;
    fail_at[OWN] = env_ull("GP_FAILMALLOC_N");
    fail_at[HOOK] = env_ull("GP_FAILMALLOC_HOOK_N");
    count_file = getenv("GP_FAILMALLOC_COUNT");
    log_file = getenv("GP_FAILMALLOC_LOG");
    sites_file = getenv("GP_FAILMALLOC_SITES");
    if (sites_file && !*sites_file)
        sites_file = NULL;
    resolving = 0;
    ready = 1;
}

static void write_str(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* A new call site: a hook when the first frame above the executable's
   frames (the call's own, then its callers') is in a shared library other
   than libc (whose frame below main is the bottom of every own call).
   backtrace() may allocate on its first use: from libc, not counted. */
static int classify(void)
{
    void *fr[128];
    int n = backtrace(fr, 128), i = 0;
    while (i < n && !in_exe((uintptr_t)fr[i])) /* the shim's frames */
        i++;
    while (i < n && in_exe((uintptr_t)fr[i]))
        i++;
    if (i >= n)
        return OWN;
    Dl_info di;
    if (!dladdr(fr[i], &di) || di.dli_fbase == libc_base)
        return OWN;
    return HOOK;
}

/* the failing call, for the report: what, how big, and the stack */
static void log_failure(int kind, const char *what, size_t size, void *caller)
{
    if (!log_file || !*log_file)
        return;
    int fd = open(log_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return;
    char line[256];
    snprintf(line, sizeof line, "call %llu (%s): %s(%zu) from 0x%lx\n", count[kind], kind_name[kind], what, size,
             (unsigned long)((uintptr_t)caller - exe_base));
    write_str(fd, line);
    void *frames[32];
    int n = backtrace(frames, 32);
    for (int i = 0; i < n; i++) {
        uintptr_t a = (uintptr_t)frames[i];
        if (in_exe(a)) {
            /* a return address: the call is the instruction before it */
            snprintf(line, sizeof line, "frame 0x%lx\n", (unsigned long)(a - exe_base - 1));
            write_str(fd, line);
        }
    }
    close(fd);
}

/* whether this call (from caller) is the one to fail; counts it when it
   comes from the executable */
static int should_fail(const char *what, size_t size, void *caller)
{
    init();
    if (!ready)
        return 0;
    uintptr_t a = (uintptr_t)caller;
    if (!in_exe(a))
        return 0;
    /* the table stays at most half full, so a probe ends at an empty slot */
    size_t h = (size_t)((a * 0x9E3779B97F4A7C15ull) >> 50) & (NSITES - 1);
    while (sites[h].addr && sites[h].addr != a)
        h = (h + 1) & (NSITES - 1);
    struct site *s = &sites[h];
    if (!s->addr && nsites < NSITES / 2) {
        s->kind = classify();
        s->addr = a;
        s->first = count[s->kind] + 1;
        nsites++;
    }
    if (s->addr)
        s->calls++;
    else
        s = NULL; /* a full table (8192 sites: not gradproof): counted as own */
    int kind = s ? s->kind : OWN;
    if (++count[kind] != fail_at[kind])
        return 0;
    log_failure(kind, what, size, caller);
    return 1;
}

void *malloc(size_t n)
{
    if (!ready && resolving)
        return boot_alloc(n);
    if (should_fail("malloc", n, __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return real_malloc(n);
}

void *calloc(size_t k, size_t n)
{
    if (!ready && resolving) {
        if (n && k > SIZE_MAX / n)
            return NULL;
        return boot_alloc(k * n);
    }
    if (should_fail("calloc", k * n, __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return real_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
    if (!ready && resolving) {
        void *q = boot_alloc(n);
        if (q && p)
            memcpy(q, p, n); /* boot pointers only, within the buffer */
        return q;
    }
    if (should_fail("realloc", n, __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    if (p && is_boot(p)) {
        void *q = real_malloc(n);
        if (q) {
            size_t room = (size_t)(boot + sizeof boot - (char *)p);
            memcpy(q, p, n < room ? n : room);
        }
        return q;
    }
    return real_realloc(p, n);
}

void free(void *p)
{
    if (!p || is_boot(p))
        return;
    if (!ready)
        init();
    if (real_free)
        real_free(p);
}

char *strdup(const char *s)
{
    if (!ready && resolving) {
        char *q = boot_alloc(strlen(s) + 1);
        if (q)
            strcpy(q, s);
        return q;
    }
    if (should_fail("strdup", strlen(s) + 1, __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return real_strdup(s);
}

__attribute__((destructor)) static void report_count(void)
{
    char line[128];
    if (count_file && *count_file) {
        int fd = open(count_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            snprintf(line, sizeof line, "%llu %llu\n", count[OWN], count[HOOK]);
            write_str(fd, line);
            close(fd);
        }
    }
    if (sites_file) {
        int fd = open(sites_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            for (size_t i = 0; i < NSITES; i++) {
                if (!sites[i].addr)
                    continue;
                /* the call instruction is just before the return address */
                snprintf(line, sizeof line, "0x%lx %llu %llu %s\n", (unsigned long)(sites[i].addr - exe_base - 1),
                         sites[i].first, sites[i].calls, kind_name[sites[i].kind]);
                write_str(fd, line);
            }
            close(fd);
        }
    }
}
