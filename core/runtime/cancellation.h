// Cooperative cancellation of a running command: a process-wide flag set by
// SIGINT / SIGTERM (the GUI's Cancel is QProcess::terminate(), i.e. SIGTERM)
// and polled by long loops at safe points — the trainer after each optimizer
// step (it checkpoints first, so a resume continues exactly there), per-unit
// loops (languages, stages) between units. Not a way to stop a single
// forward pass: the work in progress finishes first.
#pragma once

namespace dmoe {

// Sets the flag (signal = the cause, e.g. SIGTERM; exit code 128 + signal).
// Async-signal-safe: only a lock-free atomic store.
void requestCancel(int signal);
bool cancelRequested();
int cancelSignal();  // 0 while not cancelled
// Throws dmoe::Cancelled (util/error.h) when the flag is set.
void throwIfCancelled();

// SIGINT and SIGTERM set the flag; the handler is one-shot (the default
// action is re-armed), so a second signal ends the process at once. Not
// `oneShot` (a process of a torchrun job: under scancel or `kill -TERM
// -<group>` the launcher forwards a second SIGTERM while rank 0 saves its
// checkpoint): every signal only sets the flag; the launcher's SIGKILL after
// its grace period is the hard stop.
void installCancelSignalHandlers(bool oneShot = true);

}  // namespace dmoe
