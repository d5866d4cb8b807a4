// What every `dmoe` subcommand shares: where events go, and whether humans
// are reading (tables on stdout) or the GUI is (`--events jsonl`: stdout
// carries only JSON lines, one event each).
#pragma once
#include <CLI/CLI.hpp>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "events/event_sink.h"
#include "runtime/cancellation.h"
#include "runtime/runs_lock.h"

namespace dmoe::cli {

struct CliContext {
  std::string events = "text";  // text | jsonl
  std::unique_ptr<EventSink> sink;
  // The command's clock (started with the sink): every reporter's "t" counts
  // from the command's start, so main()'s closing event has its real time too.
  std::optional<Reporter> clock;
  bool jsonl() const { return events == "jsonl"; }
  // Human-readable output; a no-op stream under --events jsonl.
  std::ostream& out();
  Reporter reporter(const std::string& stage) { return clock ? clock->forStage(stage) : Reporter(*sink, stage); }
};

// What a command that runs stages holds while it works: the runs folder's
// lock (runtime/runs_lock.h) and its cancellable phase
// (runtime/cancellation.h): from the lock on, SIGINT / SIGTERM stop the work
// at its next safe point (training checkpoints first); before it, and in a
// command that takes no lock, they end the command at once. Of a torchrun
// job, rank 0 holds the lock for the job (the others hold none, but are
// cancellable too); when rank 0 cannot take it, every process fails.
class LockedRunsFolder {
 public:
  explicit LockedRunsFolder(std::unique_ptr<RunsFolderLock> lock) : lock_(std::move(lock)) {}
  explicit operator bool() const { return lock_ != nullptr; }  // whether this process holds the lock
  const RunsFolderLock* operator->() const { return lock_.get(); }

 private:
  std::unique_ptr<RunsFolderLock> lock_;
  CancellableScope cancellable_;  // ends before the lock is released
};
LockedRunsFolder lockRunsFolder(const std::filesystem::path& runsDir);

// Under a torchrun job, only `dmoe run` and the stage commands (the pipeline's
// entries) run: InputError naming `command` otherwise.
void checkCommandRunsInJob(const std::string& command);

// Runs a command's work; when it throws, `r`'s stage ends with status
// "cancelled" (dmoe::Cancelled) or "failed" (anything else) and the exception
// goes on to main(), which maps it to the exit code.
template <class Work>
auto endingStageOnThrow(Reporter& r, Work&& work) -> decltype(work()) {
  try {
    return work();
  } catch (const Cancelled&) {
    r.finished("cancelled");
    throw;
  } catch (...) {
    r.finished("failed");
    throw;
  }
}

// Each adds its subcommand(s) to `app`; the callbacks throw on failure
// (InputError → exit 2, Cancelled → 128 + signal, anything else → exit 1).
void addInfoCommand(CLI::App& app, CliContext& ctx);
void addRunCommand(CLI::App& app, CliContext& ctx);
void addProjectCommands(CLI::App& app, CliContext& ctx);
void addInspectCommand(CLI::App& app, CliContext& ctx);
void addCorpusCommands(CLI::App& app, CliContext& ctx);
void addTokenizerCommands(CLI::App& app, CliContext& ctx);  // after addCorpusCommands: adds `corpus tokenize`
void addTrainCommands(CLI::App& app, CliContext& ctx);  // pretrain, eval-ppl
void addStageCommands(CLI::App& app, CliContext& ctx);  // one per DMoE stage (deviation … report)
void addProbeCommand(CLI::App& app, CliContext& ctx);  // the adaptation's expert probe alone
void addExportCommand(CLI::App& app, CliContext& ctx);  // a DMoE as a Qwen2-MoE checkpoint
void addParityCommand(CLI::App& app, CliContext& ctx);  // logits, loss, gradient norms against a reference
void addRoutingCommand(CLI::App& app, CliContext& ctx);  // routing shares of a trained MoE per language and layer
void addSweepCommand(CLI::App& app, CliContext& ctx);    // a project over cells × seeds (cmd_sweep.cpp)

}  // namespace dmoe::cli
