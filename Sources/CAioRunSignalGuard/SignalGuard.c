// The guard over the host's signals; see include/CAioRunSignalGuard.h and README, Failure modes,
// Signals. The judging functions may run inside a signal handler (sigaction, signal and raise are
// async-signal-safe, and plugins may call them from their handlers), so they use only atomics,
// fixed arrays and other async-signal-safe calls. The one exception is the context hook (it reads
// a Swift task-local: no lock, no allocation), and it runs only on a call from plugin code that
// would change an owned signal, or raise one.
#define _GNU_SOURCE
#include "CAioRunSignalGuard.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

// glibc exports its implementation under this name too; nothing defines it but libc, so calling
// it always reaches libc, whatever the interposer defines.
extern int __sigaction(int, const struct sigaction *, struct sigaction *);

// MARK: - What the guard knows once armed

#define MAX_SIGNAL 65
#define MAX_RANGES 1024
#define RING_SIZE 64

static atomic_int armed;
static atomic_int arming;
// The process that armed the guard: in a child forked from it (a plugin resetting SIGPIPE before
// exec, say), the host owns nothing and every call passes through.
static pid_t armed_pid;
static unsigned char owned_signals[MAX_SIGNAL];
static unsigned char redirected_signals[MAX_SIGNAL];
static unsigned char received_signals[MAX_SIGNAL];
static struct sigaction kept[MAX_SIGNAL];
static aiorun_signal_context_hook context_hook;

static struct { uintptr_t start, end; } host_ranges[MAX_RANGES];
static int host_range_count;
// If the ranges did not fit, addresses cannot tell plugin code apart: only the hook does then.
static int host_ranges_complete = 1;

static int collect_range(struct dl_phdr_info *info, size_t size, void *unused) {
    (void)size;
    (void)unused;
    for (ElfW(Half) index = 0; index < info->dlpi_phnum; index++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[index];
        if (header->p_type != PT_LOAD || !(header->p_flags & PF_X)) continue;
        if (host_range_count == MAX_RANGES) {
            host_ranges_complete = 0;
            return 0;
        }
        uintptr_t start = info->dlpi_addr + header->p_vaddr;
        host_ranges[host_range_count].start = start;
        host_ranges[host_range_count].end = start + header->p_memsz;
        host_range_count++;
    }
    return 0;
}

int aiorun_signal_guard_arm(
    const int *owned, int ownedCount, const int *redirected, int redirectedCount, aiorun_signal_context_hook hook) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&arming, &expected, 1)) return 0;
    for (int index = 0; index < ownedCount; index++) {
        int signo = owned[index];
        if (signo <= 0 || signo >= MAX_SIGNAL) continue;
        if (__sigaction(signo, NULL, &kept[signo]) == 0) owned_signals[signo] = 1;
    }
    for (int index = 0; index < redirectedCount; index++) {
        int signo = redirected[index];
        if (signo > 0 && signo < MAX_SIGNAL) redirected_signals[signo] = 1;
    }
    // The signals the host receives through its own dispatch sources: owned with a handler.
    for (int signo = 1; signo < MAX_SIGNAL; signo++) {
        uintptr_t handler = (uintptr_t)kept[signo].sa_handler;
        received_signals[signo] = owned_signals[signo] && handler != (uintptr_t)SIG_DFL && handler != (uintptr_t)SIG_IGN;
    }
    context_hook = hook;
    armed_pid = getpid();
    dl_iterate_phdr(collect_range, NULL);
    atomic_store_explicit(&armed, 1, memory_order_release);
    return 1;
}

int aiorun_signal_guard_is_host_address(uintptr_t address) {
    if (!host_ranges_complete) return 1;
    for (int index = 0; index < host_range_count; index++) {
        if (address >= host_ranges[index].start && address < host_ranges[index].end) return 1;
    }
    return 0;
}

// MARK: - The event ring: many writers (any thread, even in a handler), one reader

static struct {
    atomic_ulong sequence;  // index + 1 once the slot holds event `index`
    aiorun_signal_event event;
} ring[RING_SIZE];
static atomic_ulong ring_head;  // next index to claim
static atomic_ulong ring_tail;  // next index to read
static atomic_ulong dropped;

static void record(aiorun_signal_event event) {
    unsigned long head = atomic_load_explicit(&ring_head, memory_order_relaxed);
    do {
        if (head - atomic_load_explicit(&ring_tail, memory_order_acquire) >= RING_SIZE) {
            atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
            return;  // the context's retain leaks: a few bytes, once the ring is full
        }
    } while (!atomic_compare_exchange_weak_explicit(&ring_head, &head, head + 1, memory_order_acq_rel, memory_order_relaxed));
    ring[head % RING_SIZE].event = event;
    atomic_store_explicit(&ring[head % RING_SIZE].sequence, head + 1, memory_order_release);
}

int aiorun_signal_guard_next_event(aiorun_signal_event *event) {
    unsigned long tail = atomic_load_explicit(&ring_tail, memory_order_relaxed);
    if (atomic_load_explicit(&ring[tail % RING_SIZE].sequence, memory_order_acquire) != tail + 1) return 0;
    *event = ring[tail % RING_SIZE].event;
    atomic_store_explicit(&ring_tail, tail + 1, memory_order_release);
    return 1;
}

unsigned long aiorun_signal_guard_dropped_events(void) {
    return atomic_load_explicit(&dropped, memory_order_relaxed);
}

// MARK: - Judging a call

static int is_armed(void) {
    return atomic_load_explicit(&armed, memory_order_acquire) && getpid() == armed_pid;
}

/// Whether this call comes from plugin code; `context` receives the hook's retained context.
static int from_plugin(uintptr_t caller, void **context) {
    *context = context_hook ? context_hook() : NULL;
    return *context != NULL || !aiorun_signal_guard_is_host_address(caller);
}

int aiorun_signal_guard_refuses(int signo, uintptr_t requested, const char *function, uintptr_t caller) {
    if (!is_armed() || signo <= 0 || signo >= MAX_SIGNAL || !owned_signals[signo]) return 0;
    struct sigaction current;
    if (__sigaction(signo, NULL, &current) != 0) return 0;
    // Asking for what is already there (a plugin restoring what it saw, SIG_IGN on SIGPIPE) is
    // no change.
    if ((uintptr_t)current.sa_handler == requested) return 0;
    void *context = NULL;
    if (!from_plugin(caller, &context)) return 0;
    record((aiorun_signal_event){
        .kind = aiorun_signal_event_refused, .signo = signo, .function = function,
        .requested = requested, .caller = caller, .context = context});
    return 1;
}

int aiorun_signal_guard_redirects_raise(int signo, const char *function, uintptr_t caller) {
    if (!is_armed() || signo <= 0 || signo >= MAX_SIGNAL || !redirected_signals[signo]) return 0;
    void *context = NULL;
    if (from_plugin(caller, &context)) {
        record((aiorun_signal_event){
            .kind = aiorun_signal_event_raised, .signo = signo, .function = function,
            .requested = 0, .caller = caller, .context = context});
    }
    return 1;
}

void aiorun_signal_guard_notes_signal_source(int signo, const char *function, uintptr_t caller) {
    if (!is_armed() || signo <= 0 || signo >= MAX_SIGNAL || !received_signals[signo]) return;
    void *context = NULL;
    if (!from_plugin(caller, &context)) return;
    record((aiorun_signal_event){
        .kind = aiorun_signal_event_watched, .signo = signo, .function = function,
        .requested = 0, .caller = caller, .context = context});
}

// MARK: - Checking after the fact

int aiorun_signal_guard_restore_changed(int *signals, uintptr_t *found, int capacity) {
    if (!is_armed()) return 0;
    int changed = 0;
    for (int signo = 1; signo < MAX_SIGNAL; signo++) {
        if (!owned_signals[signo]) continue;
        struct sigaction current;
        if (__sigaction(signo, NULL, &current) != 0) continue;
        if (current.sa_handler == kept[signo].sa_handler) continue;
        __sigaction(signo, &kept[signo], NULL);
        if (changed < capacity) {
            signals[changed] = signo;
            found[changed] = (uintptr_t)current.sa_handler;
        }
        changed++;
    }
    return changed;
}

// MARK: - Naming libraries

const char *aiorun_signal_guard_library_of(uintptr_t address) {
    Dl_info info;
    if (dladdr((const void *)address, &info) == 0) return NULL;
    return info.dli_fname;
}

struct library_list {
    const char **names;
    int capacity;
    int count;
    struct aiorun_library_generation generation;
};

// The loader's counters of objects ever added and removed, from the first object's entry: the
// same in every entry of one walk, which holds the loader's lock throughout.
static void read_generation(struct dl_phdr_info *info, size_t size, struct aiorun_library_generation *generation) {
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
        generation->adds = info->dlpi_adds;
        generation->subs = info->dlpi_subs;
    }
}

static int list_library(struct dl_phdr_info *info, size_t size, void *raw) {
    struct library_list *list = raw;
    if (list->count == 0) read_generation(info, size, &list->generation);
    if (list->count < list->capacity) list->names[list->count] = info->dlpi_name;
    list->count++;
    return 0;
}

int aiorun_signal_guard_loaded_libraries(
    const char **names,
    int capacity,
    struct aiorun_library_generation *generation
) {
    struct library_list list = {names, capacity, 0, {0, 0}};
    dl_iterate_phdr(list_library, &list);
    *generation = list.generation;
    return list.count;
}

static int first_generation(struct dl_phdr_info *info, size_t size, void *raw) {
    read_generation(info, size, raw);
    return 1;  // one entry is enough: stop the walk
}

struct aiorun_library_generation aiorun_signal_guard_library_generation(void) {
    struct aiorun_library_generation generation = {0, 0};
    dl_iterate_phdr(first_generation, &generation);
    return generation;
}
