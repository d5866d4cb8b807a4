// Ending a command on SIGINT / SIGTERM (the GUI's Cancel is
// QProcess::terminate(), i.e. SIGTERM), always, with exit code 128 + signal.
// Inside a cancellable phase (a CancellableScope: work that polls the flag
// at safe points — the trainer after each optimizer step, which checkpoints
// first so a resume continues exactly there; per-unit loops between units)
// the signal only sets a process-wide flag and the work stops at its next
// safe point: the work in progress (a forward pass, a stage that does not
// poll) finishes first. Anywhere else nothing polls the flag, so the signal
// ends the process at once — a command blocked reading, waiting for a job or
// computing would otherwise never end; the workbench's files are written
// atomically, so that is as safe as a SIGKILL.
#pragma once

namespace dmoe {

// Sets the flag (signal = the cause, e.g. SIGTERM; exit code 128 + signal).
// Async-signal-safe: only a lock-free atomic store.
void requestCancel(int signal);
bool cancelRequested();
int cancelSignal();  // 0 while not cancelled
// Throws dmoe::Cancelled (util/error.h) when the flag is set.
void throwIfCancelled();

// SIGINT and SIGTERM: outside every CancellableScope, "cancelled by signal
// <n>" on stderr and _exit(128 + n); inside one, the flag. The handler is
// one-shot (the default action is re-armed), so a second signal ends the
// process at once. Not `oneShot` (a process of a torchrun job: under scancel
// or `kill -TERM -<group>` the launcher forwards a second SIGTERM while rank
// 0 saves its checkpoint): inside a scope every signal only sets the flag;
// the launcher's SIGKILL after its grace period is the hard stop.
void installCancelSignalHandlers(bool oneShot = true);

// A cancellable phase, while it lives (scopes nest): work inside polls the
// flag (cancelRequested / throwIfCancelled) often enough to stop soon.
class CancellableScope {
 public:
  CancellableScope();
  ~CancellableScope();
  CancellableScope(const CancellableScope&) = delete;
  CancellableScope& operator=(const CancellableScope&) = delete;
};

}  // namespace dmoe
