// libc's signal functions (and libdispatch's dispatch_source_create), asked of the guard first (see CAioRunSignalGuard.h and README,
// Failure modes, Signals). Each passes through to libc unless the guard refuses the change or
// redirects the raise. These run wherever libc's would, signal handlers included, so they use
// only async-signal-safe calls once the pointers to libc's functions are resolved (in the
// constructor, before main, unless a library constructor calls first).
#define _GNU_SOURCE
#include "AioRunSignalInterposer.h"

#include <CAioRunSignalGuard.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

typedef __sighandler_t (*signal_fn)(int, __sighandler_t);
typedef int (*raise_fn)(int);
// dispatch_source_create, with its types reduced to what this file needs (no libdispatch header).
typedef void *(*dispatch_source_create_fn)(const void *, uintptr_t, uintptr_t, void *);

// glibc exports its implementation under this name too; nothing here defines it, so calling it
// always reaches libc.
extern int __sigaction(int, const struct sigaction *, struct sigaction *);

static _Atomic(void *) real_signal, real_bsd_signal, real_ssignal, real_sysv_signal, real_sysv_signal_internal,
    real_sigset, real_raise, real_gsignal, real_dispatch_source_create;
// libdispatch's DISPATCH_SOURCE_TYPE_SIGNAL (the address of `_dispatch_source_type_signal`).
static _Atomic(const void *) signal_source_type;

/// libc's definition of `name`: the next one after this executable's.
static void *next_symbol(_Atomic(void *) *slot, const char *name) {
    void *function = atomic_load_explicit(slot, memory_order_acquire);
    if (function == NULL) {
        function = dlsym(RTLD_NEXT, name);
        atomic_store_explicit(slot, function, memory_order_release);
    }
    return function;
}

__attribute__((constructor)) static void resolve_libc(void) {
    next_symbol(&real_signal, "signal");
    next_symbol(&real_bsd_signal, "bsd_signal");
    next_symbol(&real_ssignal, "ssignal");
    next_symbol(&real_sysv_signal, "sysv_signal");
    next_symbol(&real_sysv_signal_internal, "__sysv_signal");
    next_symbol(&real_sigset, "sigset");
    next_symbol(&real_raise, "raise");
    next_symbol(&real_gsignal, "gsignal");
    next_symbol(&real_dispatch_source_create, "dispatch_source_create");
    atomic_store(&signal_source_type, dlsym(RTLD_DEFAULT, "_dispatch_source_type_signal"));
}

#define CALLER ((uintptr_t)__builtin_extract_return_addr(__builtin_return_address(0)))

__attribute__((visibility("default"))) int sigaction(int signo, const struct sigaction *action, struct sigaction *old) {
    if (action != NULL && aiorun_signal_guard_refuses(signo, (uintptr_t)action->sa_handler, "sigaction", CALLER)) {
        return old != NULL ? __sigaction(signo, NULL, old) : 0;
    }
    return __sigaction(signo, action, old);
}

static __sighandler_t guarded_signal(
    _Atomic(void *) *slot, const char *name, int signo, __sighandler_t handler, uintptr_t caller) {
    if (handler != SIG_HOLD && aiorun_signal_guard_refuses(signo, (uintptr_t)handler, name, caller)) {
        struct sigaction current;
        return __sigaction(signo, NULL, &current) == 0 ? current.sa_handler : SIG_ERR;
    }
    signal_fn real = (signal_fn)next_symbol(slot, name);
    if (real == NULL) {
        errno = ENOSYS;
        return SIG_ERR;
    }
    return real(signo, handler);
}

__attribute__((visibility("default"))) __sighandler_t signal(int signo, __sighandler_t handler) {
    return guarded_signal(&real_signal, "signal", signo, handler, CALLER);
}

__attribute__((visibility("default"))) __sighandler_t bsd_signal(int signo, __sighandler_t handler) {
    return guarded_signal(&real_bsd_signal, "bsd_signal", signo, handler, CALLER);
}

__attribute__((visibility("default"))) __sighandler_t ssignal(int signo, __sighandler_t handler) {
    return guarded_signal(&real_ssignal, "ssignal", signo, handler, CALLER);
}

__attribute__((visibility("default"))) __sighandler_t sysv_signal(int signo, __sighandler_t handler) {
    return guarded_signal(&real_sysv_signal, "sysv_signal", signo, handler, CALLER);
}

__attribute__((visibility("default"))) __sighandler_t __sysv_signal(int signo, __sighandler_t handler) {
    return guarded_signal(&real_sysv_signal_internal, "__sysv_signal", signo, handler, CALLER);
}

__attribute__((visibility("default"))) __sighandler_t sigset(int signo, __sighandler_t handler) {
    return guarded_signal(&real_sigset, "sigset", signo, handler, CALLER);
}

static int guarded_raise(_Atomic(void *) *slot, const char *name, int signo, uintptr_t caller) {
    // Like the signal sent to the process, whoever raised it.
    if (aiorun_signal_guard_redirects_raise(signo, name, caller)) return kill(getpid(), signo);
    raise_fn real = (raise_fn)next_symbol(slot, name);
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real(signo);
}

__attribute__((visibility("default"))) int raise(int signo) {
    return guarded_raise(&real_raise, "raise", signo, CALLER);
}

__attribute__((visibility("default"))) int gsignal(int signo) {
    return guarded_raise(&real_gsignal, "gsignal", signo, CALLER);
}

// Not a signal function, but how Swift code watches signals on Linux (DispatchSource, and so
// swift-service-lifecycle's UnixSignalsSequence): noted, never refused.
__attribute__((visibility("default"))) void *dispatch_source_create(
    const void *type, uintptr_t handle, uintptr_t mask, void *queue) {
    const void *signal_type = atomic_load(&signal_source_type);
    if (type != NULL && type == signal_type) {
        aiorun_signal_guard_notes_signal_source((int)handle, "dispatch_source_create", CALLER);
    }
    dispatch_source_create_fn real = (dispatch_source_create_fn)next_symbol(&real_dispatch_source_create, "dispatch_source_create");
    return real != NULL ? real(type, handle, mask, queue) : NULL;
}
