// This target only defines libc's signal functions (sigaction, signal, bsd_signal, ssignal,
// sysv_signal, __sysv_signal, sigset, raise, gsignal) around the guard in CAioRunSignalGuard; it
// has no API of its own. Link it into an executable that hosts plugins and export those symbols
// from it (Package.swift's `exportsSignalGuard`), so that plugin libraries bind to them.
#ifndef AIORUN_SIGNAL_INTERPOSER_H
#define AIORUN_SIGNAL_INTERPOSER_H
#endif
