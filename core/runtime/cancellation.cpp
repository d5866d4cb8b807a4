// The cancellation flag, the cancellable phases and the signal handlers (see the header).
#include "runtime/cancellation.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>

#include "util/error.h"

namespace dmoe {

namespace {

std::atomic<int> cancelledBy{0};
std::atomic<int> cancellableDepth{0};  // live CancellableScopes
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler may only touch lock-free atomics");

// "cancelled by signal <n>" on stderr, then exit 128 + n; async-signal-safe (write, _exit).
[[noreturn]] void endNow(int signal) {
  char message[32] = "cancelled by signal ";
  std::size_t length = sizeof "cancelled by signal " - 1;
  if (signal >= 10) message[length++] = static_cast<char>('0' + signal / 10);  // signal numbers are below 100
  message[length++] = static_cast<char>('0' + signal % 10);
  message[length++] = '\n';
  const ssize_t ignored = ::write(STDERR_FILENO, message, length);
  (void)ignored;  // nothing to do about a closed stderr: the exit code still says it
  ::_exit(128 + signal);
}

extern "C" void onCancelSignal(int signal) {
  if (cancellableDepth.load(std::memory_order_relaxed) == 0) endNow(signal);
  cancelledBy.store(signal, std::memory_order_relaxed);
}

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

CancellableScope::CancellableScope() { cancellableDepth.fetch_add(1, std::memory_order_relaxed); }
CancellableScope::~CancellableScope() { cancellableDepth.fetch_sub(1, std::memory_order_relaxed); }

}  // namespace dmoe
