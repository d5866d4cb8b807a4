#include "checkpoint/hf_checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <stdexcept>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/owned_paths.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace dmoe {

const std::vector<std::string> kTokenizerFiles = {
    "tokenizer.json",        "tokenizer_config.json",    "special_tokens_map.json", "added_tokens.json",
    "tokenizer.model",       "generation_config.json",   "chat_template.jinja",
};

namespace {

const char* kSingleFile = "model.safetensors";
const char* kIndexFile = "model.safetensors.index.json";

Json readJsonObject(const fs::path& file) {
  const Json json = readJsonFile(file);
  if (!json.is_object()) throw InputError(file.string() + ": expected a JSON object");
  return json;
}

}  // namespace

// ---- reading ---------------------------------------------------------------

CheckpointTensors CheckpointTensors::open(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw InputError(dir.string() + ": not a folder");
  CheckpointTensors result;
  result.dir_ = dir;
  fs::path index = dir / kIndexFile;
  std::map<std::string, std::string> weightMap;  // tensor → file name
  if (fs::exists(index)) {
    Json json = readJsonObject(index);
    if (!json.contains("weight_map") || !json["weight_map"].is_object())
      throw InputError(index.string() + ": /weight_map must be an object {tensor name: shard file}");
    std::set<std::string> shardNames;
    for (const auto& [name, file] : json["weight_map"].items()) {
      if (!file.is_string() || fs::path(file.get<std::string>()).filename() != file.get<std::string>() ||
          file == "." || file == "..")
        throw InputError(index.string() + ": /weight_map/" + name + " must name a file in the same folder, not " +
                         file.dump());
      weightMap[name] = file.get<std::string>();
      shardNames.insert(file.get<std::string>());
    }
    for (const std::string& f : shardNames) {
      if (!fs::exists(dir / f)) throw InputError(index.string() + " lists shard " + f + ", which is not in " + dir.string());
      result.files_.push_back(dir / f);
    }
  } else if (fs::exists(dir / kSingleFile)) {
    result.files_.push_back(dir / kSingleFile);
  } else {
    std::string hint = fs::exists(dir / "pytorch_model.bin")
                           ? " (pytorch_model.bin is not read: convert it to safetensors)"
                           : "";
    throw InputError(dir.string() + ": no " + kSingleFile + " or " + kIndexFile + hint);
  }

  for (const fs::path& file : result.files_) {
    const auto& reader = result.readers_.emplace_back(std::make_unique<safetensors::Reader>(file));
    for (const safetensors::TensorEntry& e : reader->tensors()) {
      if (!weightMap.empty()) {
        auto listed = weightMap.find(e.name);
        if (listed == weightMap.end() || listed->second != file.filename().string())
          throw InputError(file.string() + ": tensor '" + e.name + "' is not mapped to this file by " + index.string());
      }
      if (!result.where_.emplace(e.name, Location{reader.get(), &e}).second)
        throw InputError(file.string() + ": tensor '" + e.name + "' is also in another file of " + dir.string());
    }
  }
  for (const auto& [name, file] : weightMap)
    if (!result.contains(name))
      throw InputError(index.string() + ": tensor '" + name + "' is mapped to " + file + ", which does not contain it");
  return result;
}

std::vector<std::string> CheckpointTensors::names() const {
  std::vector<std::string> names;
  for (const auto& [name, location] : where_) names.push_back(name);
  return names;
}

const CheckpointTensors::Location& CheckpointTensors::locate(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw InputError(dir_.string() + ": checkpoint has no tensor '" + name + "'");
  return it->second;
}

const safetensors::TensorEntry& CheckpointTensors::entry(const std::string& name) const { return *locate(name).entry; }
const fs::path& CheckpointTensors::fileOf(const std::string& name) const { return locate(name).file->path(); }

torch::Tensor CheckpointTensors::tensor(const std::string& name, std::optional<torch::ScalarType> dtype) const {
  const Location& at = locate(name);
  return readTensor(*at.file, *at.entry, dtype);
}

HfCheckpoint HfCheckpoint::open(const fs::path& dir) {
  fs::path config = dir / "config.json";
  if (!fs::exists(config))
    throw InputError(config.string() + " not found: a Hugging Face checkpoint folder needs config.json");
  return HfCheckpoint{dir, readJsonObject(config), CheckpointTensors::open(dir)};
}

// ---- loading into a module ---------------------------------------------------

void loadStateDict(torch::nn::Module& module, const CheckpointTensors& checkpoint, LoadReport& report,
                   const LoadOptions& options) {
  report = LoadReport{};
  std::map<std::string, torch::Tensor> parameters, buffers;
  for (const auto& item : module.named_parameters()) parameters[item.key()] = item.value();
  for (const auto& item : module.named_buffers()) buffers[item.key()] = item.value();

  std::map<std::string, std::string> source;  // module name → checkpoint name
  for (const std::string& name : checkpoint.names()) {
    std::string target = options.mapName ? options.mapName(name) : name;
    bool known = parameters.count(target) || buffers.count(target);
    if (!known && options.tieWordEmbeddings && target == "lm_head.weight")
      report.tied.push_back(name);  // some tied checkpoints still store the shared matrix
    else if (!known || !source.emplace(target, name).second)
      report.unexpected.push_back(name);
  }
  for (const auto& [name, tensor] : parameters) {
    if (source.count(name)) continue;
    if (options.tieWordEmbeddings && name == "lm_head.weight")
      report.tied.push_back(name);
    else
      report.missing.push_back(name);
  }
  for (const auto& [target, name] : source) {
    const torch::Tensor& into = parameters.count(target) ? parameters[target] : buffers[target];
    const std::vector<std::int64_t>& shape = checkpoint.entry(name).shape;
    std::vector<std::int64_t> expected(into.sizes().begin(), into.sizes().end());
    if (expected != shape) report.misshaped.push_back({target, expected, shape});
  }

  std::vector<Problem> problems;
  if (!options.allowMissing)
    for (const std::string& name : report.missing) problems.push_back({name, "missing from the checkpoint"});
  if (!options.allowUnexpected)
    for (const std::string& name : report.unexpected)
      problems.push_back({name, "in " + checkpoint.fileOf(name).filename().string() + " but not a tensor of the model"});
  for (const ShapeMismatch& m : report.misshaped)
    problems.push_back({m.name, "model expects " + shapeText(m.moduleShape) + ", " +
                                    checkpoint.fileOf(source[m.name]).filename().string() + " has " +
                                    shapeText(m.checkpointShape)});
  if (!problems.empty()) throw ValidationError(checkpoint.dir().string(), problems);

  torch::NoGradGuard noGrad;
  for (const auto& [target, name] : source) {
    torch::Tensor& into = parameters.count(target) ? parameters[target] : buffers[target];
    into.copy_(checkpoint.tensor(name, into.scalar_type()));
    report.loaded.push_back(target);
  }
}

// ---- saving ------------------------------------------------------------------

namespace {

std::string shardName(std::size_t index, std::size_t count) {
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return name;
}

// HF's torch_dtype for the floating tensors when they share one dtype.
std::optional<std::string> uniformTorchDtype(const NamedTensors& tensors) {
  std::optional<torch::ScalarType> shared;
  for (const auto& [name, t] : tensors) {
    if (!t.is_floating_point()) continue;
    if (shared && *shared != t.scalar_type()) return std::nullopt;
    shared = t.scalar_type();
  }
  if (!shared) return std::nullopt;
  switch (*shared) {
    case torch::kFloat32: return "float32";
    case torch::kFloat16: return "float16";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat64: return "float64";
    default: return std::nullopt;
  }
}

}  // namespace

std::optional<fs::path> saveCheckpoint(const fs::path& target, const Json& config, const NamedTensors& tensors,
                                       const SaveOptions& options) {
  fs::path dir = target.has_filename() ? target : target.parent_path();
  NamedTensors sorted;
  for (const auto& [name, t] : tensors)
    sorted.emplace_back(name, options.dtype && t.is_floating_point() ? t.to(*options.dtype) : t);
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i].first == sorted[i - 1].first)
      throw std::invalid_argument("saveCheckpoint: tensor '" + sorted[i].first + "' given twice");

  // Shards in name order; a tensor larger than the limit gets a shard of its own.
  std::vector<NamedTensors> shards(1);
  std::uint64_t shardBytes = 0, totalBytes = 0;
  for (const auto& named : sorted) {
    std::uint64_t bytes = named.second.nbytes();
    if (!shards.back().empty() && shardBytes + bytes > options.maxShardBytes) {
      shards.emplace_back();
      shardBytes = 0;
    }
    shards.back().push_back(named);
    shardBytes += bytes;
    totalBytes += bytes;
  }

  // Built whole in a marked scratch folder beside `dir`, then swapped in
  // (util/owned_paths.h): `dir` is always the old or the new checkpoint.
  if (!options.setAsideForeign) refuseUnlessReplaceable(dir, options.kind);  // before any work
  removeDeadStaging(dir);
  const fs::path staging = scratchPath(dir);
  removeMade(staging);
  markMade(staging, options.kind);
  struct Unwind {
    const fs::path& staging;
    bool done = false;
    ~Unwind() {
      if (done) return;
      try {
        removeMade(staging);  // this process's scratch
      } catch (const std::exception&) {
        // a leftover is removed by the next save of the same folder
      }
    }
  } unwind{staging};

  Json savedConfig = config;
  if (auto dtype = uniformTorchDtype(sorted)) savedConfig["torch_dtype"] = *dtype;
  writeFileAtomic(staging / "config.json", dumpJson(savedConfig, 2) + "\n");
  if (!options.tokenizerSource.empty())
    for (const std::string& f : kTokenizerFiles)
      if (fs::is_regular_file(options.tokenizerSource / f)) fs::copy_file(options.tokenizerSource / f, staging / f);

  if (shards.size() == 1) {
    writeTensors(staging / kSingleFile, shards[0]);
  } else {
    Json weightMap = Json::object();
    for (std::size_t i = 0; i < shards.size(); ++i) {
      std::string name = shardName(i, shards.size());
      writeTensors(staging / name, shards[i]);
      for (const auto& named : shards[i]) weightMap[named.first] = name;
    }
    Json index = {{"metadata", {{"total_size", totalBytes}}}, {"weight_map", weightMap}};
    writeFileAtomic(staging / kIndexFile, dumpJson(index, 2) + "\n");
  }
  std::optional<fs::path> aside = replaceFolder(staging, dir, options.kind, options.setAsideForeign);
  unwind.done = true;
  return aside;
}

void saveStateDict(const torch::nn::Module& module, const fs::path& dir, const Json& config,
                   const SaveOptions& options) {
  bool tied = config.contains("tie_word_embeddings") && config["tie_word_embeddings"] == true;
  NamedTensors tensors;
  for (const auto& item : module.named_parameters())
    if (!(tied && item.key() == "lm_head.weight")) tensors.emplace_back(item.key(), item.value());
  saveCheckpoint(dir, config, tensors, options);
}

}  // namespace dmoe
