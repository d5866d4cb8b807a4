// CheckpointSummary: what a Hugging Face checkpoint folder holds, from its
// config.json and the safetensors headers alone (no tensor is read) — family,
// whether the workbench can load it (and why not), layers, width, parameters,
// dtypes, weight files, the tokenizer found beside it. Torch-free: the New
// Project wizard and `dmoe project new` show and check a base with it.
// Not here: the full per-tensor listing (`dmoe inspect`) or loading
// (checkpoint/hf_checkpoint.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>


namespace dmoe {

struct CheckpointSummary {
  std::filesystem::path dir;
  std::string modelType;            // config.json "model_type"
  std::string unsupported;          // empty when the workbench loads this family, else the reason
  bool mixtureOfExperts = false;    // a DMoE / LayerMoE model (config.json "dmoe")
  std::int64_t layers = 0, hiddenSize = 0, vocabSize = 0;
  std::int64_t parameters = 0;      // every tensor of the weight files (the index's shards, else model.safetensors, else every *.safetensors)
  std::int64_t bytes = 0;           // their data
  std::map<std::string, std::int64_t> dtypes;  // parameters per dtype name ("BF16", …)
  std::vector<std::filesystem::path> weightFiles;
  std::filesystem::path tokenizer;  // tokenizer.model, else tokenizer.json; empty: none found

  bool hubMixture = false;          // a Hugging Face MoE family (qwen2_moe, mixtral): loaded, measured, not grown

  // Why the folder cannot be a project's base (a family not loaded, a Hugging
  // Face mixture of experts, no tokenizer beside it); empty when it can.
  std::string baseProblem() const;
  // "llama · 24 layers · d 1024 · 559.2 M parameters (BF16) · 2 files · tokenizer.json"
  std::string line() const;
};

// InputError naming the folder or file: no config.json, config.json
// unreadable, no *.safetensors file, a damaged safetensors header, any of
// these files not a regular file (a FIFO is refused, never waited on).
CheckpointSummary summarizeCheckpoint(const std::filesystem::path& dir);

}  // namespace dmoe
