// A stage's output folder under the project's runs folder and its manifest:
// the record that lets `dmoe run` skip up-to-date stages and never mix results
// of different settings.
//
//   inputs.json   — the inputs of the run that is filling the folder (written
//                   when it starts): an interrupted run resumes only into a
//                   folder of the same inputs; otherwise the folder is cleared
//                   — only when the workbench made it (.dmoe-made, see
//                   util/owned_paths.h; a non-empty folder it did not make
//                   is refused, never deleted).
//   manifest.json — {inputs, outputs, files}, written last: its presence with
//                   equal inputs, and every file of "files" ({relative path:
//                   {bytes, fnv1a64}}: all outputs but training logs,
//                   checkpoints and nested stage folders) there with its size,
//                   means the outputs are complete and current; a missing or
//                   truncated one is recomputed. The check is cheap: a file's
//                   bytes are hashed only when it was modified after
//                   manifest.json, and then a changed one is recomputed too.
//                   Equal runs write equal manifests (no times, no logs).
// Inputs are JSON: the settings the stage reads (as the project spells them)
// and the fingerprints of the upstream folders it reads (fingerprint()), plus
// "precision": "bf16" when the command computes in bf16 (runtime/device.h; fp32
// adds nothing, so manifests written before the setting existed stay current).
//
// The stage cache (`dmoe run --stage-cache DIR`, the sweep's runs folders):
// each completed stage folder is also kept under DIR, named by its folder name
// and the hash of its inputs and of the project's languages as displayed (id,
// name, tier: results carry those labels, the inputs do not); a stage of
// another runs folder with exactly those inputs takes a copy instead of
// computing — the sweep's cells that share a base, tokens or deviation compute
// them once. Copies are hard links where the file system allows: outputs are
// only ever replaced (util/atomic_file.h), never rewritten in place — the one
// append, a training run's metrics.jsonl, follows the trainer's atomic rewrite
// of that file (train/trainer.cpp truncateMetrics) — and a copy holds no
// inputs.json, so a stage that computes again into it clears it first.
// Checkpoints and nested stage folders are not kept (a completed stage reads
// neither; nested ones are cached on their own). An entry that fails its check
// after a copy is removed; a stage that computes again replaces its entry.
// The report is not cached: it names its project.
#pragma once
#include <filesystem>
#include <functional>
#include <string>

#include "events/event_sink.h"
#include "util/json.h"

namespace dmoe {

class StageFolder {
 public:
  StageFolder(std::filesystem::path dir, Json inputs);

  const std::filesystem::path& dir() const { return dir_; }
  const Json& inputs() const { return inputs_; }
  // The outputs recorded by the last completed run; throws InputError when the stage has not completed.
  Json outputs() const;
  // The inputs that run recorded (its settings, upstream fingerprints, "precision"); throws likewise.
  Json recordedInputs() const;

  // The skeleton every stage shares. When the folder is current (not `force`,
  // manifest.json records exactly these inputs, `product` exists) logs "<what>
  // is up to date: <product>" and returns false. Otherwise prepares the
  // folder — marks it as the workbench's, clears it when `force` or when it
  // holds results of other inputs (logged; a folder the workbench did not
  // make is refused), keeps an interrupted run of the same inputs for resuming,
  // writes inputs.json, removes manifest.json — runs `compute` (writes the
  // outputs, returns what the manifest records of them), writes manifest.json
  // atomically, and returns true. The caller reports started/finished.
  // Several processes (runtime/distributed.h): rank 0's decision holds for
  // all, rank 0 prepares the folder, every process runs `compute`, and once
  // all have finished rank 0 writes the manifest of its `compute`'s outputs.
  bool run(bool force, Reporter& reporter, const std::string& what, const std::filesystem::path& product,
           const std::function<Json()>& compute);

  // Whether run() would skip: not forced, manifest.json records exactly these
  // inputs, `product` exists and no recorded output changed (`changed` gets
  // the first that did). Writes nothing. For checks a stage makes only when
  // it will compute (e.g. memory), before run() clears the folder.
  bool current(bool force, const std::filesystem::path& product, std::string* changed = nullptr) const;

  // A completed stage folder's identity for downstream inputs: the hash of its
  // manifest. Throws InputError naming the folder and the command that makes it.
  static std::string fingerprint(const std::filesystem::path& dir, const std::string& makerCommand);

  // The stage cache of this process (see above); empty = none, the default.
  // `context`: the project's languages as displayed (part of every entry's name).
  static void setCache(const std::filesystem::path& dir, const std::string& context = {});
  static const std::filesystem::path& cache();
  // Whether the cache holds this stage with these inputs (run() would take it), not forced.
  bool inCache(bool force) const;
  // This stage is neither taken from nor kept in the cache (the report).
  void keepOutOfCache() { cacheable_ = false; }

 private:
  bool upToDate() const;
  std::filesystem::path cacheEntry() const;
  bool restoreFromCache(const std::filesystem::path& product, Reporter& reporter) const;
  void keepInCache(Reporter& reporter) const;
  void begin(bool force, Reporter& reporter);
  void complete(const Json& outputs) const;

  std::filesystem::path dir_;
  Json inputs_;
  bool cacheable_ = true;
};

}  // namespace dmoe
