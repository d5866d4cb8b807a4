// One job of many processes over c10d (see the header).
#include "runtime/distributed.h"

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <functional>
#include <memory>
#include <thread>

#include "runtime/cancellation.h"
#include "util/error.h"

// USE_C10D_GLOO: LibTorch's CMake target defines it where it was built with Gloo (the header is empty otherwise).
#if __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>) && __has_include(<gloo/config.h>) && \
    defined(USE_C10D_GLOO)
#define DMOE_HAVE_C10D 1
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#else
#define DMOE_HAVE_C10D 0
#endif

namespace dmoe {

namespace {

// A whole decimal number in [low, high] from variable `name`; InputError otherwise.
int launchNumber(const char* name, const char* text, long low, long high) {
  if (!text || !*text) throw InputError(std::string(name) + " is not set (torchrun sets it for every process of a job)");
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (errno || *end || value < low || value > high)
    throw InputError(std::string(name) + "=\"" + text + "\": expected a whole number from " + std::to_string(low) +
                     " to " + std::to_string(high));
  return static_cast<int>(value);
}

struct Job {
  int rank = 0, size = 1, localRank = 0, localSize = 1;
  std::uint64_t sequence = 0;  // stage-level waits made so far (the same on every rank)
  bool hostsStore = false;
#if DMOE_HAVE_C10D
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
#endif
};

Job& job() {
  static Job j;
  return j;
}

std::atomic<int> soloDepth{0};

bool collective() { return job().size > 1 && soloDepth.load() == 0; }

[[noreturn]] void lost(const std::string& what, const std::exception& e) {
  std::string message = e.what();
  message = message.substr(0, message.find('\n'));  // c10::Error appends a stack trace
  throw DistributedError("rank " + std::to_string(job().rank) + " of " + std::to_string(job().size) + ": " + what +
                         " failed, a process of the job died, hung or failed (" + message + ")");
}

#if DMOE_HAVE_C10D
std::vector<std::uint8_t> bytesOf(const std::string& s) { return {s.begin(), s.end()}; }

// Waits for `key` in the store: without a deadline, polling the
// cancellation flag; or, not `cancellable` (a wait that is itself part of
// stopping), up to collectiveTimeout().
std::string waitForKey(const std::string& key, const std::string& what, bool cancellable = true) {
  Job& j = job();
  const auto deadline = std::chrono::steady_clock::now() + collectiveTimeout();
  try {
    while (!j.store->check({key})) {
      if (cancellable && cancelRequested()) throw Cancelled();
      if (!cancellable && std::chrono::steady_clock::now() > deadline)
        throw DistributedError("rank " + std::to_string(j.rank) + " of " + std::to_string(j.size) + ": " + what +
                               " timed out after " + std::to_string(collectiveTimeout().count() / 1000) + " s");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const std::vector<std::uint8_t> value = j.store->get(key);
    return std::string(value.begin(), value.end());
  } catch (const Cancelled&) {
    throw;
  } catch (const DistributedError&) {
    throw;
  } catch (const std::exception& e) {
    lost(what, e);
  }
}

// One collective per buffer (in place), all in flight at once, then waited for.
void inFlight(const std::string& what, const std::vector<torch::Tensor>& buffers,
              const std::function<c10::intrusive_ptr<c10d::Work>(std::vector<torch::Tensor>&)>& launch) {
  try {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (const torch::Tensor& buffer : buffers) {
      std::vector<torch::Tensor> one{buffer};
      works.push_back(launch(one));
    }
    for (auto& work : works) work->wait(collectiveTimeout());
  } catch (const std::exception& e) {
    lost(what, e);
  }
}
#endif

}  // namespace

LaunchEnvironment readLaunchEnvironment(const std::function<const char*(const char*)>& getenv) {
  LaunchEnvironment env;
  const char* world = getenv("WORLD_SIZE");
  if (!world || !*world) return env;
  env.worldSize = launchNumber("WORLD_SIZE", world, 1, 1 << 20);
  if (env.worldSize == 1) return env;
  env.rank = launchNumber("RANK", getenv("RANK"), 0, env.worldSize - 1);
  env.localRank = getenv("LOCAL_RANK") ? launchNumber("LOCAL_RANK", getenv("LOCAL_RANK"), 0, env.worldSize - 1) : 0;
  env.localWorldSize = getenv("LOCAL_WORLD_SIZE")
                           ? launchNumber("LOCAL_WORLD_SIZE", getenv("LOCAL_WORLD_SIZE"), 1, env.worldSize)
                           : env.worldSize;
  const char* addr = getenv("MASTER_ADDR");
  if (!addr || !*addr) throw InputError("MASTER_ADDR is not set (torchrun sets it: the host of the job's c10d store)");
  env.masterAddr = addr;
  env.masterPort = launchNumber("MASTER_PORT", getenv("MASTER_PORT"), 1, 65535);
  const char* agent = getenv("TORCHELASTIC_USE_AGENT_STORE");
  env.agentStore = agent && std::string(agent) == "True";
  if (const char* restarts = getenv("TORCHELASTIC_RESTART_COUNT"); restarts && *restarts)
    env.restartCount = launchNumber("TORCHELASTIC_RESTART_COUNT", restarts, 0, INT_MAX);
  return env;
}

void joinJob(const LaunchEnvironment& env) {
  Job& j = job();
  if (!env.multiProcess()) return;
  if (j.size > 1) throw std::logic_error("joinJob: this process already joined a job");
  const std::chrono::milliseconds timeout = collectiveTimeout();  // a bad DMOE_COLLECTIVE_TIMEOUT_S: InputError, exit 2
#if DMOE_HAVE_C10D
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(env.masterPort);
    options.isServer = !env.agentStore && env.rank == 0;
    options.numWorkers = env.agentStore ? c10::nullopt : c10::optional<std::size_t>(env.worldSize);
    options.waitWorkers = false;
    options.timeout = timeout;
    options.multiTenant = true;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(env.masterAddr, options);
    if (env.agentStore)
      store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(env.restartCount), store);
    // The workbench's own keys, apart from anything else in the agent's store.
    j.store = c10::make_intrusive<c10d::PrefixStore>("dmoe", store);
    auto groupOptions = c10d::ProcessGroupGloo::Options::create(timeout);
    // GLOO_SOCKET_IFNAME: one interface or a comma-separated list (one device each), as torch.distributed reads it.
    const char* interfaces = std::getenv("GLOO_SOCKET_IFNAME");
    std::string list = interfaces ? interfaces : "";
    for (std::size_t at = 0; at < list.size();) {
      const std::size_t comma = std::min(list.find(',', at), list.size());
      if (comma > at) groupOptions->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(list.substr(at, comma - at)));
      at = comma + 1;
    }
    if (groupOptions->devices.empty()) groupOptions->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    j.group = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", j.store),
                                                          env.rank, env.worldSize, groupOptions);
  } catch (const std::exception& e) {
    std::string message = e.what();
    throw DistributedError("rank " + std::to_string(env.rank) + " cannot join the job at " + env.masterAddr + ":" +
                           std::to_string(env.masterPort) + " (" + message.substr(0, message.find('\n')) + ")");
  }
  j.rank = env.rank;
  j.size = env.worldSize;
  j.localRank = env.localRank;
  j.localSize = env.localWorldSize;
  j.hostsStore = !env.agentStore && env.rank == 0;
#else
  throw DistributedError("WORLD_SIZE is " + std::to_string(env.worldSize) +
                         " but this build of dmoe has no c10d/Gloo (LibTorch without distributed headers or "
                         "libgloo-dev): run one process");
#endif
}

void leaveJob(bool waitForOthers) {
#if DMOE_HAVE_C10D
  Job& j = job();
  if (j.size <= 1) return;
  try {
    j.store->add("left", 1);
    if (!j.hostsStore || !waitForOthers) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (j.store->add("left", 0) < j.size && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } catch (const std::exception&) {
    // Leaving: a peer already gone is no error of this process.
  }
#endif
}

int processRank() { return collective() ? job().rank : 0; }
int processCount() { return collective() ? job().size : 1; }
int jobRank() { return job().rank; }
int jobSize() { return job().size; }
int localRank() { return job().localRank; }
int localProcessCount() { return job().localSize; }

std::chrono::milliseconds collectiveTimeout() {
  static const std::chrono::milliseconds timeout = [] {
    const char* text = std::getenv("DMOE_COLLECTIVE_TIMEOUT_S");
    const int seconds = text && *text ? launchNumber("DMOE_COLLECTIVE_TIMEOUT_S", text, 1, 7 * 24 * 3600) : 600;
    return std::chrono::milliseconds(std::int64_t{seconds} * 1000);
  }();
  return timeout;
}

void allReduceSum(const std::vector<torch::Tensor>& tensors) {
  if (!collective() || tensors.empty()) return;
#if DMOE_HAVE_C10D
  constexpr std::int64_t kBucketBytes = 25 << 20;
  std::vector<std::vector<torch::Tensor>> buckets(1);
  std::int64_t bytes = 0;
  for (const torch::Tensor& t : tensors) {
    const std::int64_t size = t.numel() * static_cast<std::int64_t>(t.element_size());
    if (!buckets.back().empty() && (bytes + size > kBucketBytes || t.scalar_type() != buckets.back().front().scalar_type() ||
                                    t.device() != buckets.back().front().device())) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(t);
    bytes += size;
  }
  std::vector<torch::Tensor> flat;
  for (const auto& bucket : buckets) {
    std::vector<torch::Tensor> parts;
    for (const torch::Tensor& t : bucket) parts.push_back(t.reshape({-1}));
    flat.push_back(torch::cat(parts));
  }
  inFlight("an all-reduce", flat, [](std::vector<torch::Tensor>& one) { return job().group->allreduce(one); });
  torch::NoGradGuard noGrad;
  for (size_t b = 0; b < buckets.size(); ++b) {
    std::int64_t offset = 0;
    for (const torch::Tensor& t : buckets[b]) {
      t.copy_(flat[b].narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
  }
#endif
}

void broadcastFromMain(const std::vector<torch::Tensor>& tensors) {
  if (!collective() || tensors.empty()) return;
#if DMOE_HAVE_C10D
  std::vector<torch::Tensor> staged;
  for (const torch::Tensor& t : tensors) staged.push_back(t.detach().contiguous());
  inFlight("a broadcast from rank 0", staged, [](std::vector<torch::Tensor>& one) { return job().group->broadcast(one); });
  torch::NoGradGuard noGrad;
  for (size_t i = 0; i < tensors.size(); ++i)
    if (!staged[i].is_same(tensors[i])) tensors[i].copy_(staged[i]);
#endif
}

void barrier(const std::string& what, bool cancellable) {
  if (!collective()) return;
#if DMOE_HAVE_C10D
  Job& j = job();
  const std::string key = "wait/" + std::to_string(j.sequence++);
  try {
    // Every rank adds one; the last one to arrive opens the gate.
    if (j.store->add(key + "/arrived", 1) == j.size) j.store->set(key + "/open", bytesOf("1"));
  } catch (const std::exception& e) {
    lost(what, e);
  }
  waitForKey(key + "/open", what, cancellable);
#endif
}

void runOnMain(const std::string& what, const std::function<void()>& work) {
  if (!collective()) return work();
#if DMOE_HAVE_C10D
  Job& j = job();
  const std::string key = "main/" + std::to_string(j.sequence++);
  if (j.rank == 0) {
    std::string outcome = "ok";
    try {
      SoloScope solo;
      work();
    } catch (const Cancelled&) {
      outcome = "cancelled";
      j.store->set(key, bytesOf(outcome));
      throw;
    } catch (const std::exception& e) {
      std::string message = e.what();
      j.store->set(key, bytesOf("failed: " + message.substr(0, message.find('\n'))));
      throw;
    }
    j.store->set(key, bytesOf(outcome));
    return;
  }
  const std::string outcome = waitForKey(key, what);
  if (outcome == "cancelled") throw Cancelled();
  if (outcome != "ok") throw DistributedError("rank 0 " + outcome.substr(0, 6) + " " + what + ": " + outcome.substr(8));
#endif
}

bool agreeWithMain(bool value) {
  if (!collective()) return value;
  bool agreed = value;
#if DMOE_HAVE_C10D
  Job& j = job();
  const std::string key = "value/" + std::to_string(j.sequence++);
  if (j.rank == 0) j.store->set(key, bytesOf(value ? "1" : "0"));
  else agreed = waitForKey(key, "sharing a decision") == "1";
#endif
  return agreed;
}

SoloScope::SoloScope() { ++soloDepth; }
SoloScope::~SoloScope() { --soloDepth; }

}  // namespace dmoe
