// What every `dmoe` subcommand shares: where events go, and whether humans
// are reading (tables on stdout) or the GUI is (`--events jsonl`: stdout
// carries only JSON lines, one event each).
#pragma once
#include <CLI/CLI.hpp>
#include <iosfwd>
#include <memory>
#include <string>

#include "events/event_sink.h"

namespace dmoe::cli {

struct CliContext {
  std::string events = "text";  // text | jsonl
  std::unique_ptr<EventSink> sink;
  bool jsonl() const { return events == "jsonl"; }
  // Human-readable output; a no-op stream under --events jsonl.
  std::ostream& out();
  Reporter reporter(const std::string& stage) { return Reporter(*sink, stage); }
};

// Each adds its subcommand(s) to `app`; the callbacks throw on failure
// (InputError → exit 2, anything else → exit 1).
void addInfoCommand(CLI::App& app, CliContext& ctx);
void addRunCommand(CLI::App& app, CliContext& ctx);
void addProjectCommands(CLI::App& app, CliContext& ctx);
void addInspectCommand(CLI::App& app, CliContext& ctx);
void addCorpusCommands(CLI::App& app, CliContext& ctx);
void addTokenizerCommands(CLI::App& app, CliContext& ctx);  // after addCorpusCommands: adds `corpus tokenize`
void addTrainCommands(CLI::App& app, CliContext& ctx);  // pretrain, eval-ppl
void addStageCommands(CLI::App& app, CliContext& ctx);  // one per DMoE stage (deviation … report)

}  // namespace dmoe::cli
