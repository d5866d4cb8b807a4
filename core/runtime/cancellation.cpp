// The cancellation flag and its signal handlers (see the header).
#include "runtime/cancellation.h"

#include <signal.h>

#include <atomic>

#include "util/error.h"

namespace dmoe {

namespace {

std::atomic<int> cancelledBy{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler may only touch a lock-free atomic");

extern "C" void onCancelSignal(int signal) { cancelledBy.store(signal, std::memory_order_relaxed); }

}  // namespace

void requestCancel(int signal) { cancelledBy.store(signal, std::memory_order_relaxed); }
bool cancelRequested() { return cancelledBy.load(std::memory_order_relaxed) != 0; }
int cancelSignal() { return cancelledBy.load(std::memory_order_relaxed); }

void throwIfCancelled() {
  if (cancelRequested()) throw Cancelled();
}

void installCancelSignalHandlers(bool oneShot) {
  struct sigaction action {};
  action.sa_handler = onCancelSignal;
  sigemptyset(&action.sa_mask);
  // SA_RESETHAND: the default action is back as the handler runs (a second
  // signal kills); SA_RESTART: file writes in progress are not cut by EINTR.
  action.sa_flags = (oneShot ? SA_RESETHAND : 0) | SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

}  // namespace dmoe
