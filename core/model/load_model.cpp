// Loading a causal LM from a checkpoint folder (see the header).
#include "model/load_model.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include "model/dmoe_model.h"
#include "model/hub_moe.h"
#include "model/model_family.h"
#include "model/moe_layout.h"
#include "util/error.h"
#include "util/text.h"

namespace dmoe {

namespace {

using Shapes = std::map<std::string, std::vector<std::int64_t>>;  // tensor name (the family's spelling) → shape

// Each MoE layer's expert count and the config key that sets it.
struct ExpectedExperts {
  std::map<std::int64_t, std::int64_t> perLayer;
  std::string key;
  std::int64_t expertWidth = 0;  // 0: the dense width (a DMoE's experts are copies of the FFN)
  std::string expertWidthKey = "intermediate_size";
  std::int64_t sharedWidth = 0;  // Qwen2-MoE's shared expert (0: none)
};

// Compares config.json with the headers; every failure names the file, the key and the tensor.
class WeightsCheck {
 public:
  WeightsCheck(const ModelConfig& config, const CheckpointTensors& tensors, std::string source)
      : config_(config), family_(modelFamily(config.model_type)), source_(std::move(source)) {
    for (const std::string& name : tensors.names())
      shapes_[family_.canonicalName ? family_.canonicalName(name) : name] = tensors.entry(name).shape;
  }

  [[noreturn]] void fail(const std::string& key, std::int64_t value, const std::string& but) const {
    throw InputError(source_ + ": \"" + key + "\": " + std::to_string(value) + ", but " + but);
  }

  // First, as every other size check indexes layers by it.
  void layers() const {
    std::int64_t highest = -1;
    std::string at;
    for (const auto& [name, shape] : shapes_) {
      const std::int64_t layer = parameterModule(family_, name).layer;
      if (layer > highest) {
        highest = layer;
        at = name;
      }
    }
    if (config_.num_hidden_layers != highest + 1)
      fail(rawKey(family_.layersKey, "num_hidden_layers"), config_.num_hidden_layers,
           highest < 0 ? "no tensor of the weights belongs to a layer"
                       : "the weights hold layers 0 to " + std::to_string(highest) + " (" + at + ")");
  }

  void embedding() const {
    for (const TensorInfo& entry : *family_.tensors) {
      const auto it = shapes_.find(entry.name);
      if (entry.kind != ModuleKind::Embedding || it == shapes_.end()) continue;
      const std::vector<std::int64_t>& shape = it->second;
      const std::string but = entry.name + std::string(" has shape ") + shapeText(shape) + " ([vocab_size, hidden_size])";
      if (shape.size() != 2 || shape[0] != config_.vocab_size) fail("vocab_size", config_.vocab_size, but);
      if (shape[1] != config_.hidden_size) fail(hiddenKey(), config_.hidden_size, but);
    }
  }

  // Every FFN weight and bias, dense or expert: [F, D] or [D, F] ([F] or [D]), F the width its key gives.
  void ffnWidths(const ExpectedExperts& experts) const {
    for (const auto& [name, shape] : shapes_) {
      const ModuleKind kind = parameterModule(family_, name).kind;
      if (kind != ModuleKind::Ffn && kind != ModuleKind::FfnBias && kind != ModuleKind::Expert) continue;
      // BLOOM's F is 4 · hidden_size: the key to look at is hidden_size.
      std::string key = family_.implementation == Implementation::Bloom ? hiddenKey() : "intermediate_size";
      std::int64_t width = config_.intermediate_size;
      if (name.find(".mlp.shared_expert.") != std::string::npos) {
        key = "shared_expert_intermediate_size";
        width = experts.sharedWidth;
      } else if (name.find(".mlp.experts.") != std::string::npos && experts.expertWidth > 0) {
        key = experts.expertWidthKey;
        width = experts.expertWidth;
      }
      if (!ffnShape(shape, width))
        fail(key, key == hiddenKey() ? config_.hidden_size : width,
             name + " has shape " + shapeText(shape) + " (expected [" + std::to_string(width) + ", " +
                 std::to_string(config_.hidden_size) + "] or its transpose)");
    }
  }

  // Each MoE layer's count against the experts its tensor names number (0 … E − 1).
  void expertCounts(const ExpectedExperts& expected) const {
    std::map<std::int64_t, std::int64_t> present;
    for (const auto& [name, shape] : shapes_)
      if (const std::optional<std::int64_t> e = expertIndex(name)) {
        std::int64_t& count = present[parameterModule(family_, name).layer];
        count = std::max(count, *e + 1);
      }
    for (const auto& [layer, count] : expected.perLayer) {
      const std::int64_t held = present.count(layer) ? present.at(layer) : 0;
      if (held != count)
        fail(expected.key, count,
             "layer " + std::to_string(layer) + " of the weights holds " +
                 (held == 0 ? "no experts" : "experts 0 to " + std::to_string(held - 1)));
    }
  }

  // The model is built in fp32 in host memory first, whatever the device.
  void memory(const CheckpointTensors& tensors, std::int64_t availableBytes) const {
    double parameters = static_cast<double>(config_.parameterCount());
    double stored = 0;
    for (const auto& name : tensors.names()) stored += static_cast<double>(tensors.entry(name).numel());
    parameters = std::max(parameters, stored);
    const double bytes = 4 * parameters;
    if (availableBytes >= 0 && bytes > static_cast<double>(availableBytes))
      throw InputError(source_ + ": the model has " + shortCount(parameters) + " parameters, " + shortBytes(bytes) +
                       " in fp32 to build, but this machine has " + shortBytes(static_cast<double>(availableBytes)) +
                       " of memory available (MemAvailable in /proc/meminfo)");
  }

 private:
  // The key config.json spells (BLOOM accepts the HF names beside its own).
  std::string rawKey(const std::string& familyKey, const std::string& hfKey) const {
    return config_.raw.contains(hfKey) ? hfKey : familyKey;
  }
  std::string hiddenKey() const { return config_.raw.contains("n_embed") ? "n_embed" : "hidden_size"; }

  bool ffnShape(const std::vector<std::int64_t>& shape, std::int64_t width) const {
    const std::int64_t d = config_.hidden_size;
    if (shape.size() == 1) return shape[0] == width || shape[0] == d;
    return shape.size() == 2 && ((shape[0] == width && shape[1] == d) || (shape[0] == d && shape[1] == width));
  }

  // E of "…mlp.experts.E.…" (the family's canonical spelling), if the name is an expert's.
  static std::optional<std::int64_t> expertIndex(const std::string& name) {
    static const std::string marker = ".mlp.experts.";
    const size_t at = name.find(marker);
    if (at == std::string::npos) return std::nullopt;
    const char* begin = name.data() + at + marker.size();
    std::int64_t e = 0;
    const auto [end, error] = std::from_chars(begin, name.data() + name.size(), e);
    if (error != std::errc() || end == begin || *end != '.') return std::nullopt;
    return e;
  }

  const ModelConfig& config_;
  const ModelFamily& family_;
  std::string source_;
  Shapes shapes_;
};

// The experts the config's MoE layout asks for: the "dmoe" section, else Qwen2-MoE's or Mixtral's keys.
ExpectedExperts expectedExperts(const ModelConfig& config, const std::string& source) {
  ExpectedExperts expected;
  if (const auto layout = readMoeLayout(config, source)) {
    const std::vector<std::int64_t> perLayer = expertsPerModelLayer(layout, config.num_hidden_layers, source);
    for (std::int64_t layer : layout->layers) expected.perLayer[layer] = perLayer[static_cast<size_t>(layer)];
    expected.key = layout->layerExperts.empty() ? "dmoe.num_experts" : "dmoe.experts_per_layer";
  } else if (const auto hub = readHubMoeLayout(config, source)) {
    for (std::int64_t layer : hub->layers) expected.perLayer[layer] = hub->experts;
    const bool qwen = modelFamily(config.model_type).hubMoe == HubMoe::Qwen2Moe;
    expected.key = qwen ? "num_experts" : "num_local_experts";
    expected.expertWidth = hub->expertWidth;
    expected.sharedWidth = hub->sharedWidth;
    if (qwen) expected.expertWidthKey = "moe_intermediate_size";
  }
  return expected;
}

}  // namespace

ModelConfig readModelConfig(const HfCheckpoint& checkpoint, std::int64_t availableBytes) {
  const std::string source = (checkpoint.dir / "config.json").string();
  ModelConfig config = ModelConfig::fromHfJson(checkpoint.config, source);
  const WeightsCheck check(config, checkpoint.tensors, source);
  check.layers();  // bounds every per-layer list the layouts below make
  check.embedding();
  const ExpectedExperts experts = expectedExperts(config, source);
  check.ffnWidths(experts);
  check.expertCounts(experts);
  check.memory(checkpoint.tensors, availableBytes);
  return config;
}

std::shared_ptr<CausalLMImpl> loadCausalLM(const std::filesystem::path& dir, const std::string& device) {
  HfCheckpoint checkpoint = HfCheckpoint::open(dir);
  ModelConfig config = readModelConfig(checkpoint);
  std::shared_ptr<CausalLMImpl> model = buildCausalLM(config);
  // A DMoE folder: the MoE layers are built first so every tensor has a place to load into.
  if (auto layout = readMoeLayout(config, (dir / "config.json").string())) upcycle(*model, *layout);
  // A Hugging Face MoE (Qwen2-MoE, Mixtral): its sparse layers likewise.
  if (auto hub = readHubMoeLayout(config, (dir / "config.json").string())) buildHubMoe(*model, *hub);
  LoadOptions options;
  options.tieWordEmbeddings = config.tie_word_embeddings;
  if (const auto canonical = modelFamily(config.model_type).canonicalName) options.mapName = canonical;
  LoadReport report;
  loadStateDict(*model, checkpoint.tensors, report, options);
  model->to(torch::Device(device));
  model->eval();
  return model;
}

}  // namespace dmoe
