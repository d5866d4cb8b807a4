// One job of many processes (PyTorch's c10d, launched by torchrun): this
// process's rank, and the few collectives the stages need.
//
// A process reads the torchrun convention (../shared/FORMATS.md, "Distributed
// launch": RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT) and joins the job through a c10d TCPStore — hosted by
// torchrun's agent when TORCHELASTIC_USE_AGENT_STORE is "True" (its static
// rendezvous; the keys then live under /worker/attempt_<restart count>, as in
// torch.distributed), else by rank 0 — and a Gloo process group (the one
// Debian's LibTorch 1.13 ships; on CUDA too: the collectives here move
// host-sized gradient buckets, NCCL is not wired in). A single process (no
// WORLD_SIZE, or 1) joins nothing, and every function here is then a no-op
// returning what a one-process job would.
//
// Two kinds of synchronisation:
//   - collectives of a training step (allReduceSum, broadcastFromMain) go
//     through Gloo with a timeout (collectiveTimeout()): a rank that dies or
//     hangs mid-step makes the others fail with DistributedError in bounded time;
//   - stage-level waits (barrier, runOnMain, agreeWithMain) go through the
//     store without a timeout (a stage on rank 0 may take hours), polling the
//     cancellation flag; a dead rank ends them through the launcher, which
//     stops the job's other processes when one fails.
// Inside a SoloScope the process acts as a job of one (rank 0 of 1): work
// that one rank does alone (a language's deviation fine-tune, a stage that
// does not split) writes its files and calls no collective.
// Not here: how the trainer splits batches (train/trainer.h) or which stages
// split (pipeline/stage_catalog.h).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "torch_compat.h"

namespace dmoe {

// A collective or a wait failed: a process of the job died, hung or failed. Exit code 1.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LaunchEnvironment {
  int rank = 0, worldSize = 1, localRank = 0, localWorldSize = 1;
  std::string masterAddr;
  int masterPort = 0;
  bool agentStore = false;  // TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent hosts the store
  int restartCount = 0;     // TORCHELASTIC_RESTART_COUNT
  bool multiProcess() const { return worldSize > 1; }
};

// The launch variables through `getenv` (injectable for tests). None set, or
// WORLD_SIZE 1: a single process. Throws InputError naming the variable when
// one is missing, not a number or out of range (RANK ≥ WORLD_SIZE, a port
// outside 1…65535).
LaunchEnvironment readLaunchEnvironment(const std::function<const char*(const char*)>& getenv);

// Joins the job `env` describes (no-op for a single process); the
// rendezvous waits up to collectiveTimeout() for the other processes. Once
// per process. Throws DistributedError when the store or a peer cannot be
// reached, or when this LibTorch was built without c10d/Gloo.
void joinJob(const LaunchEnvironment& env);

// Before the process ends: when rank 0 hosts the store and `waitForOthers`
// (it succeeded), it waits up to a minute for the others to leave, so none
// loses the store mid-wait. No-op for a single process and under torchrun's
// agent store.
void leaveJob(bool waitForOthers = true);

// Rank and size as the calling code should see them (0 of 1 inside a SoloScope).
int processRank();
int processCount();
inline bool isMainProcess() { return processRank() == 0; }
// Rank and size of the job, regardless of SoloScope (for messages and sharding).
int jobRank();
int jobSize();
// LOCAL_RANK: which accelerator of the machine this process uses; LOCAL_WORLD_SIZE: the job's processes here.
int localRank();
int localProcessCount();

// Timeout of one collective (default 600 s: a rank-0 checkpoint save of a
// large model fits; DMOE_COLLECTIVE_TIMEOUT_S overrides it, in seconds).
std::chrono::milliseconds collectiveTimeout();

// Sums each tensor over the processes, in place. Tensors are packed into
// buckets of at most 25 MiB (DDP's default) whose all-reduces are all in
// flight at once.
void allReduceSum(const std::vector<torch::Tensor>& tensors);
// Overwrites each tensor with rank 0's values.
void broadcastFromMain(const std::vector<torch::Tensor>& tensors);

// Every process reaches this point before any goes on. Not `cancellable`
// (a wait that is part of stopping, e.g. for rank 0's last checkpoint): the
// cancellation flag is ignored and the wait ends with DistributedError after
// collectiveTimeout().
void barrier(const std::string& what, bool cancellable = true);
// Rank 0 runs `work` alone (inside a SoloScope) while the others wait; when
// it throws, rank 0 rethrows and the others throw DistributedError naming
// `what` and the message (Cancelled when rank 0 was cancelled).
void runOnMain(const std::string& what, const std::function<void()>& work);
// Rank 0's value of `value`, on every process.
bool agreeWithMain(bool value);

// While alive, this process acts as a job of one.
class SoloScope {
 public:
  SoloScope();
  ~SoloScope();
  SoloScope(const SoloScope&) = delete;
  SoloScope& operator=(const SoloScope&) = delete;
};

}  // namespace dmoe
