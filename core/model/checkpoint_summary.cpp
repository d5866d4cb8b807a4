#include "model/checkpoint_summary.h"

#include <algorithm>

#include "checkpoint/safetensors.h"
#include "model/model_family.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/text.h"

namespace dmoe {

namespace fs = std::filesystem;

namespace {

std::int64_t integerOr(const Json& config, const std::string& key, std::int64_t fallback) {
  const auto it = config.find(key);
  return it != config.end() && it->is_number_integer() ? it->get<std::int64_t>() : fallback;
}

// The weights as a loader reads them: the shards the index names, else
// model.safetensors, else every *.safetensors (a folder holding both
// consolidated.safetensors and shards, as some hub repositories do, is not counted twice).
std::vector<fs::path> weightFilesOf(const fs::path& dir) {
  std::vector<fs::path> files;
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    const Json j = readJsonFile(index);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw InputError(index.string() + ": expected an object with a \"weight_map\" object");
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) throw InputError(index.string() + ": /weight_map/" + name + ": expected a file name");
      files.push_back(dir / file.get<std::string>());
    }
  } else if (fs::exists(dir / "model.safetensors")) {
    files.push_back(dir / "model.safetensors");
  } else {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".safetensors") files.push_back(entry.path());
    if (ec) throw InputError("cannot list " + dir.string() + ": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

}  // namespace

CheckpointSummary summarizeCheckpoint(const fs::path& dir) {
  const fs::path configFile = dir / "config.json";
  if (!fs::exists(configFile))
    throw InputError(dir.string() + ": no config.json (expected a Hugging Face checkpoint folder)");
  const Json config = readJsonFile(configFile);
  if (!config.is_object()) throw InputError(configFile.string() + ": expected a JSON object");
  CheckpointSummary s;
  s.dir = dir;
  s.modelType = config.value("model_type", std::string());
  const ModelFamily* family = findModelFamily(s.modelType);
  if (s.modelType.empty())
    s.unsupported = "config.json names no model_type";
  else if (!family)
    s.unsupported = "model_type \"" + s.modelType + "\" is not a family the workbench loads (" + supportedModelTypes() + ")";
  s.mixtureOfExperts = config.contains("dmoe") || (family && family->hubMoe != HubMoe::None);
  s.hubMixture = family && family->hubMoe != HubMoe::None;
  s.layers = integerOr(config, family ? family->layersKey : "num_hidden_layers", 0);
  s.hiddenSize = integerOr(config, "hidden_size", integerOr(config, "n_embed", 0));
  s.vocabSize = integerOr(config, "vocab_size", 0);
  s.weightFiles = weightFilesOf(dir);
  if (s.weightFiles.empty()) throw InputError(dir.string() + ": no *.safetensors weights");
  for (const fs::path& file : s.weightFiles) {
    const safetensors::Reader reader(file);
    for (const safetensors::TensorEntry& t : reader.tensors()) {
      s.parameters += t.numel();
      s.bytes += static_cast<std::int64_t>(t.byteSize());
      s.dtypes[safetensors::dtypeName(t.dtype)] += t.numel();
    }
  }
  for (const char* name : {"tokenizer.model", "tokenizer.json"})
    if (s.tokenizer.empty() && fs::is_regular_file(dir / name)) s.tokenizer = dir / name;
  return s;
}

std::string CheckpointSummary::baseProblem() const {
  if (!unsupported.empty()) return unsupported;
  if (hubMixture)
    return "a " + modelType + " checkpoint is already a mixture of experts: the workbench grows dense models (and its own "
           "LayerMoE models); measure how it routes with `dmoe routing --model` instead";
  if (tokenizer.empty()) return "no tokenizer.model or tokenizer.json beside the weights (the base's tokenizer must come with it)";
  return {};
}

std::string CheckpointSummary::line() const {
  std::string dtypeText;
  for (const auto& [name, count] : dtypes) dtypeText += (dtypeText.empty() ? "" : ", ") + name;
  return (modelType.empty() ? "?" : modelType) + (mixtureOfExperts ? " (mixture of experts)" : "") + " · " +
         std::to_string(layers) + " layers · d " + std::to_string(hiddenSize) + " · " + shortCount(static_cast<double>(parameters)) +
         " parameters (" + dtypeText + ") · " + std::to_string(weightFiles.size()) +
         (weightFiles.size() == 1 ? " file · " : " files · ") +
         (tokenizer.empty() ? std::string("no tokenizer") : tokenizer.filename().string());
}

}  // namespace dmoe
