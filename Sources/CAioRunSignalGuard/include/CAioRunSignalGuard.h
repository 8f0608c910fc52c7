// The host's guard over the signals it owns (see README, Failure modes, Signals).
//
// The guard keeps, once armed, the dispositions of the owned signals as they were, the address
// ranges of every object loaded then (host code), and a ring of events. AioRunSignalInterposer
// (linked into the executables that host plugins) defines sigaction, signal and its variants,
// and raise, and asks the guard about each call:
// - a change of an owned signal's disposition by plugin code is refused (the call reports
//   success and the previous disposition, and changes nothing) and recorded;
// - raise() of a redirected signal is sent to the whole process with kill(getpid(), …): raise()
//   sends to the calling thread, and libdispatch's worker threads (the cooperative pool) block
//   the signals that the host receives through signalfd, so it would never be delivered;
// - a dispatch signal source that plugin code creates for a signal the host receives (how
//   swift-service-lifecycle and Vapor watch SIGINT/SIGTERM on Linux, without any sigaction) is
//   allowed, since the host's own source still gets every signal, but recorded, so that the
//   host can name the plugin that will also react to the signal.
// "Plugin code" is a call made while a plugin's context is current (the context hook returns
// non-NULL), or a call from an address outside every object that was loaded when the guard was
// armed. Until armed, everything passes through. What the interposer cannot see (a direct system
// call) is found later by aiorun_signal_guard_restore_changed.
#ifndef C_AIORUN_SIGNAL_GUARD_H
#define C_AIORUN_SIGNAL_GUARD_H

#include <signal.h>
#include <stdint.h>

/// What an event records.
typedef enum {
    /// Plugin code tried to change an owned signal's disposition; it was refused.
    aiorun_signal_event_refused = 1,
    /// raise() of a redirected signal was sent to the process instead of the calling thread.
    aiorun_signal_event_raised = 2,
    /// Plugin code created a dispatch signal source for a signal the host receives: allowed (the
    /// host's own source still gets every signal), but the plugin will react to it on its own.
    aiorun_signal_event_watched = 3,
} aiorun_signal_event_kind;

/// One call from plugin code that the guard acted on.
typedef struct {
    aiorun_signal_event_kind kind;
    /// The signal number.
    int signo;
    /// The function that was called, as a static C string ("signal", "sigaction", "raise", …).
    const char *_Nullable function;
    /// The handler it asked for (SIG_DFL, SIG_IGN or a function), for refused changes.
    uintptr_t requested;
    /// The return address of the call: an address in the calling library.
    uintptr_t caller;
    /// What the context hook returned at the call (retained by the hook), or NULL.
    void *_Nullable context;
} aiorun_signal_event;

/// Returns a retained reference to the current plugin context, or NULL outside any plugin.
typedef void *_Nullable (*aiorun_signal_context_hook)(void);

/// Arms the guard once per process (later calls return 0 and change nothing): snapshots the
/// current dispositions of the `owned` signals as the ones to keep, the address ranges of every
/// object loaded now as host code, and the hook. Returns 1 when this call armed it.
int aiorun_signal_guard_arm(
    const int *_Nonnull owned, int ownedCount, const int *_Nonnull redirected, int redirectedCount,
    aiorun_signal_context_hook _Nonnull hook);

/// Takes the oldest unread event into `event`; returns 0 when there is none. One reader only.
int aiorun_signal_guard_next_event(aiorun_signal_event *_Nonnull event);

/// How many events were dropped because the ring was full.
unsigned long aiorun_signal_guard_dropped_events(void);

/// Compares each owned signal's disposition with the snapshot and restores any that changed.
/// Writes up to `capacity` changed signals and the handlers found into the arrays; returns how
/// many changed. 0 before arming.
int aiorun_signal_guard_restore_changed(int *_Nonnull signals, uintptr_t *_Nonnull found, int capacity);

/// For the interposer: 1 if setting `signo` to `requested` (SIG_DFL, SIG_IGN or a handler) from
/// `caller` through `function` must be refused; the event is recorded then.
int aiorun_signal_guard_refuses(int signo, uintptr_t requested, const char *_Nonnull function, uintptr_t caller);

/// For the interposer: 1 if raise(`signo`) must be sent to the whole process instead; the event
/// is recorded when the call comes from plugin code.
int aiorun_signal_guard_redirects_raise(int signo, const char *_Nonnull function, uintptr_t caller);

/// For the interposer: a dispatch signal source for `signo` is being created from `caller`;
/// recorded when `signo` is one the host receives and the call comes from plugin code.
void aiorun_signal_guard_notes_signal_source(int signo, const char *_Nonnull function, uintptr_t caller);

/// 1 if `address` lies in code that was loaded when the guard was armed.
int aiorun_signal_guard_is_host_address(uintptr_t address);

/// The file of the loaded object holding `address` (dladdr), or NULL. The loader owns the text.
const char *_Nullable aiorun_signal_guard_library_of(uintptr_t address);

/// The loader's counts of objects added and removed since the process started (`dlpi_adds`,
/// `dlpi_subs`): while both are unchanged, the set of loaded objects is too.
struct aiorun_library_generation {
    unsigned long long adds;
    unsigned long long subs;
};

/// Writes the files of up to `capacity` loaded objects, in load order, and the loader's counts as
/// of that walk; returns how many are loaded. The loader owns the texts (valid, at the same
/// address, while the object stays loaded).
int aiorun_signal_guard_loaded_libraries(
    const char *_Nullable *_Nonnull names,
    int capacity,
    struct aiorun_library_generation *_Nonnull generation
);

/// The loader's counts now, read from the first loaded object only (constant time).
struct aiorun_library_generation aiorun_signal_guard_library_generation(void);

#endif
