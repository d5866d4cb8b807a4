// The pipeline's stages as data, in execution order: each one's name, its
// one-line help (for `dmoe run --help`, `dmoe <stage> --help` and the GUI's
// menus), whether `dmoe <name> <project>` is a command of its own and
// whether it splits over the processes of a torchrun job.
// Torch-free, so the GUI lists the stages without linking them.
//
// Not here: what a stage runs (pipeline/pipeline.h binds each name to its
// entry point) or where it writes (results/run_layout.h).
#pragma once
#include <string>
#include <vector>

namespace dmoe {

struct StageInfo {
  std::string name;
  std::string help;
  // `dmoe <name> <project>` is generated from this entry (the method stages);
  // a name "<family>-<step>" (layermoe-similarity) becomes `dmoe <family> <step>`.
  bool command = false;
  // Of a multi-process job (runtime/distributed.h), every process works on
  // it: its languages split over them, or its training data parallel. The
  // other stages run on rank 0 while the rest wait.
  bool splits = false;
};

const std::vector<StageInfo>& stageCatalog();

// Whether `dmoe <command>` runs in a torchrun job: `run`, the stage commands
// (a catalogue name that is a command or splits, or the family of
// "<family>-<step>" commands).
// Every other command refuses a job (it would run once per process).
bool commandRunsInJob(const std::string& command);

}  // namespace dmoe
