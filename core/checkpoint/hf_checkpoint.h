// Hugging Face checkpoint folders (FORMATS.md): config.json, weights in
// model.safetensors or in shards listed by model.safetensors.index.json,
// tokenizer files beside them. Reading maps the files; loading copies the
// tensors into a torch::nn::Module by exact name; saving writes the same
// layout atomically. Which names a model family uses is core/model/.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/safetensors.h"
#include "checkpoint/tensor_bridge.h"
#include "torch_compat.h"
#include "util/json.h"

namespace dmoe {

// Files a saved checkpoint copies from the folder its model came from.
extern const std::vector<std::string> kTokenizerFiles;

// The weights of a checkpoint folder: every tensor of every safetensors file,
// by name. Files stay mapped while this object lives.
class CheckpointTensors {
 public:
  // Reads <dir>/model.safetensors.index.json and its shards, or <dir>/model.safetensors.
  // Throws InputError naming the folder/file: neither present, an index that is
  // not JSON or names a missing file, a name in two shards or missing from its
  // shard, any safetensors format error.
  static CheckpointTensors open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  std::vector<std::string> names() const;                    // sorted
  const std::vector<std::filesystem::path>& files() const { return files_; }
  bool contains(const std::string& name) const { return where_.count(name) > 0; }
  // Throws InputError for an absent name.
  const safetensors::TensorEntry& entry(const std::string& name) const;
  const std::filesystem::path& fileOf(const std::string& name) const;
  torch::Tensor tensor(const std::string& name, std::optional<torch::ScalarType> dtype = std::nullopt) const;

 private:
  struct Location {
    const safetensors::Reader* file;
    const safetensors::TensorEntry* entry;
  };
  const Location& locate(const std::string& name) const;
  std::filesystem::path dir_;
  std::vector<std::filesystem::path> files_;
  std::vector<std::unique_ptr<safetensors::Reader>> readers_;
  std::map<std::string, Location> where_;
};

// config.json (as an ordered Json, unknown keys kept) plus the weights.
struct HfCheckpoint {
  std::filesystem::path dir;
  Json config;
  CheckpointTensors tensors;
  // Throws InputError when <dir>/config.json is missing or not a JSON object.
  static HfCheckpoint open(const std::filesystem::path& dir);
};

struct LoadOptions {
  // Checkpoint name → module name (e.g. adds BLOOM's "transformer." prefix); empty = identity.
  std::function<std::string(const std::string&)> mapName;
  bool allowMissing = false;     // module parameters absent from the checkpoint
  bool allowUnexpected = false;  // checkpoint tensors the module lacks
  // The model ties lm_head to the embeddings (config tie_word_embeddings):
  // an absent "lm_head.weight" is then not missing.
  bool tieWordEmbeddings = false;
};

struct ShapeMismatch {
  std::string name;  // module name
  std::vector<std::int64_t> moduleShape, checkpointShape;
};

struct LoadReport {
  std::vector<std::string> loaded;      // module names copied
  std::vector<std::string> missing;     // module parameters the checkpoint lacks
  std::vector<std::string> unexpected;  // checkpoint names (as in the file) the module lacks
  std::vector<ShapeMismatch> misshaped;
  std::vector<std::string> tied;        // "lm_head.weight" when tied and absent
};

// Copies checkpoint tensors into the module's parameters and buffers by exact
// (mapped) name, converting to each parameter's dtype and device, under
// NoGradGuard. Every parameter must be present; buffers are loaded when the
// checkpoint has them (HF buffers such as rotary inv_freq are not saved).
// Fills `report`, then throws InputError listing every problem by name, with
// shapes and the folder, unless allowed (mis-shaped tensors are never allowed).
// Nothing is copied when it throws.
void loadStateDict(torch::nn::Module& module, const CheckpointTensors& checkpoint, LoadReport& report,
                   const LoadOptions& options = {});

struct SaveOptions {
  std::uint64_t maxShardBytes = 5'000'000'000;  // shard above this many bytes (HF's 5 GB)
  std::filesystem::path tokenizerSource;        // copy kTokenizerFiles found here; empty = none
  std::optional<torch::ScalarType> dtype;       // cast floating tensors on save (e.g. kBFloat16)
  std::string kind = "model";                   // the .dmoe-made kind of the folder ("export" for dmoe export)
  bool setAsideForeign = false;                 // a folder dmoe did not write is renamed aside, not refused
};

// Writes <dir>/config.json, the tokenizer files and the weights: one
// model.safetensors, or shards model-0000i-of-0000N.safetensors filled in name
// order plus model.safetensors.index.json. Sets config "torch_dtype" when the
// floating tensors share one dtype. The folder is built whole in a marked
// scratch folder beside `dir` and swapped in (util/owned_paths.h replaceFolder),
// so `dir` always holds the old or the new checkpoint, never a mix; a killed
// save's scratch folder is removed by the next save of `dir`. A `dir` that
// exists, is not empty and was not written as `options.kind` by dmoe is
// refused before any work (InputError), or with `setAsideForeign` renamed
// whole to "<dir>.before-dmoe-<n>", which is returned.
std::optional<std::filesystem::path> saveCheckpoint(const std::filesystem::path& dir, const Json& config,
                                                    const NamedTensors& tensors, const SaveOptions& options = {});

// saveCheckpoint of the module's parameters (buffers are not part of HF
// checkpoints); with config tie_word_embeddings true, lm_head.weight is left out.
void saveStateDict(const torch::nn::Module& module, const std::filesystem::path& dir, const Json& config,
                   const SaveOptions& options = {});

}  // namespace dmoe
