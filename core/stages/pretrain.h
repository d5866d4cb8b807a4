// The pretraining stage (`dmoe pretrain`, base_model.kind "pretrain"): a
// Llama-family model of the project's base_model.config, vocabulary from the
// project tokenizer, trained from scratch with base_model.pretrain settings on
// the training shards of the project's languages (not new_languages: those
// stay unseen for the adaptation experiment), windows drawn in proportion to
// each language's token count.
//
// Output: <runs_dir>/pretrain/ = the trainer's run folder (settings.json,
// metrics.jsonl, checkpoints/) plus model/ (a Hugging Face checkpoint folder
// with the tokenizer) and manifest.json (inputs: settings, model config,
// tokenizer fingerprint, token-cache manifests), written last. The stage is
// skipped when manifest.json matches the current inputs; checkpoints are
// resumed only if inputs.json (written when a run starts) matches them too.
#pragma once
#include <filesystem>

#include "events/event_sink.h"
#include "project/project.h"
#include "train/trainer.h"

namespace dmoe {

struct PretrainOptions {
  bool resume = false;  // continue from the newest complete checkpoint
  bool force = false;   // delete <runs_dir>/pretrain first
  std::int64_t logEvery = 1;
};

std::filesystem::path pretrainDir(const Project& project);         // <runs_dir>/pretrain
std::filesystem::path pretrainedModelDir(const Project& project);  // <runs_dir>/pretrain/model

// The model config the project asks for (vocab_size from the tokenizer), completed and checked.
ModelConfig pretrainModelConfig(const Project& project, std::int64_t vocabSize, std::int64_t bosId, std::int64_t eosId,
                                std::int64_t padId);

// Reports started/finished("done" | "skipped") on `reporter`. Returns the model folder.
// Throws InputError when base_model.kind is not "pretrain", the tokenizer or a
// shard is missing, or the run folder has checkpoints and neither resume nor force is set.
std::filesystem::path runPretrain(const Project& project, Reporter& reporter, const PretrainOptions& options);

}  // namespace dmoe
