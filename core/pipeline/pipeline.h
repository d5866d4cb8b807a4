// The stage runner: the project's stages in order. `dmoe run` and the GUI's
// "Run all" go through here; `dmoe <stage>` runs one. Each stage decides for
// itself whether its outputs are up to date (manifests of input hashes) and
// reports "skipped" when they are, so a second run does no work.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "events/event_sink.h"
#include "project/project.h"

namespace dmoe {

struct PipelineOptions {
  bool force = false;                // redo every stage even when up to date
  std::filesystem::path udhrDir;     // corpus import source (empty: the default cache)
  std::string from, until;           // run a contiguous range of stages (names), empty = all
};

struct PipelineStage {
  std::string name;
  std::string help;  // one line for `dmoe run --help` and the GUI
  std::function<void(const Project&, Reporter&, const PipelineOptions&)> run;
  bool command = false;  // `dmoe <name> <project>` is generated from this entry (the DMoE stages)
};

// The stage catalogue (pipeline/stage_catalog.h) bound to the entry points, in execution order.
const std::vector<PipelineStage>& pipelineStages();

// Runs the selected range; a stage that throws is reported as "failed" (as
// "cancelled" for dmoe::Cancelled, also checked before each stage) and the
// exception propagates (the CLI maps it to its exit code). InputError for an
// unknown stage name in from/until.
void runPipeline(const Project& project, EventSink& sink, const PipelineOptions& options);

}  // namespace dmoe
