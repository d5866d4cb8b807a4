// The pretraining stage (see the header).
#include "stages/pretrain.h"

#include <algorithm>

#include "checkpoint/hf_checkpoint.h"
#include "corpus/data_slices.h"
#include "corpus/token_cache.h"
#include "corpus/token_shard.h"
#include "runtime/distributed.h"
#include "stages/stage_folder.h"
#include "runtime/device.h"
#include "stages/tokenizer_training.h"
#include "train/sequence_sampler.h"
#include "util/atomic_file.h"

namespace fs = std::filesystem;

namespace dmoe {

fs::path pretrainDir(const Project& project) { return project.layout().pretrainDir(); }
fs::path pretrainedModelDir(const Project& project) { return RunLayout::modelIn(pretrainDir(project)); }

ModelConfig pretrainModelConfig(const Project& project, std::int64_t vocabSize, std::int64_t bosId, std::int64_t eosId,
                                std::int64_t padId) {
  const ModelShape& shape = project.base_model.config;
  ModelConfig c;
  c.model_type = shape.model_type;
  c.vocab_size = vocabSize;
  c.hidden_size = shape.hidden_size;
  c.num_hidden_layers = shape.num_hidden_layers;
  c.num_attention_heads = shape.num_attention_heads;
  c.num_key_value_heads = shape.num_key_value_heads;
  c.intermediate_size = shape.intermediate_size;
  c.max_position_embeddings = shape.max_position_embeddings;
  c.rope_theta = shape.rope_theta;
  c.norm_eps = shape.rms_norm_eps;
  c.tie_word_embeddings = shape.tie_word_embeddings;
  c.hidden_act = "silu";
  c.bos_token_id = bosId;
  c.eos_token_id = eosId;
  c.pad_token_id = padId;
  return c.completed(project.file.string() + " /base_model/config");
}

namespace {

// Trains the base on the pretrain slice into <runs_dir>/pretrain (resuming
// from its checkpoints when asked) and saves it; returns what the manifest records.
Json pretrainInto(const Project& project, const ModelConfig& config, const TrainingSettings& settings,
                  const PretrainOptions& options, Reporter& reporter) {
  const fs::path modelDir = pretrainedModelDir(project);
  // The pretrain slice only (SPEC 1.0): the continual data stays new to the base.
  std::vector<TokenShard> trainShards;
  trainShards.reserve(project.languages.size());
  std::vector<TokenStream> streams;
  for (const Language& l : project.languages) {
    trainShards.emplace_back(tokenShardFile(project, l.id, sliceName(Slice::pretrain)));
    const TokenShard& shard = trainShards.back();
    if (shard.tokenCount() > 0)
      streams.push_back({l.id, shard.data(), shard.tokenCount(), static_cast<double>(shard.tokenCount())});
  }
  if (streams.empty())
    throw InputError(project.file.string() + " /corpus/pretrain: the pretrain slice is empty for every language; "
                     "raise its fraction or count");
  SequenceSampler sampler(streams, settings.seq_len, static_cast<std::uint64_t>(settings.seed));

  const std::string device = resolveDevice(project.device);
  torch::manual_seed(static_cast<std::uint64_t>(settings.seed));
  std::shared_ptr<CausalLMImpl> model = buildCausalLM(config);
  model->to(torch::Device(device));

  TrainerOptions trainerOptions = stageTrainerOptions(project, settings, pretrainDir(project), device);
  trainerOptions.settingsPointer = "/base_model/pretrain";
  trainerOptions.resume = options.resume;
  trainerOptions.logEvery = options.logEvery;
  trainerOptions.extraSettings = {{"stage", "pretrain"}, {"model", config.toHfJson()}, {"sampling", "∝ tokens"}};
  Trainer trainer(model, sampler, trainerOptions, reporter);
  TrainResult result = trainer.run();

  SaveOptions save;
  save.tokenizerSource = projectTokenizerPath(project).parent_path();
  if (isMainProcess()) saveStateDict(*model, modelDir, config.toHfJson(), save);
  reporter.artifact(modelDir, "model");
  reporter.result("pretrain", Json{{"model", modelDir.string()},
                                   {"steps", result.steps},
                                   {"resumed_from", result.resumedFrom},
                                   {"final_loss", result.losses.empty() ? Json() : Json(result.losses.back())}});
  return {{"steps", result.steps}};
}

}  // namespace

fs::path runPretrain(const Project& project, Reporter& reporter, const PretrainOptions& options) {
  if (project.base_model.kind != "pretrain")
    throw InputError(project.file.string() + " /base_model/kind: is \"" + project.base_model.kind +
                     "\"; `pretrain` needs \"pretrain\" (a checkpoint base is not trained from scratch)");
  reporter.started();
  const fs::path dir = pretrainDir(project), modelDir = pretrainedModelDir(project);
  std::unique_ptr<Tokenizer> tokenizer = loadProjectTokenizer(project);
  Reporter tokensReporter = reporter.forStage("tokens");
  runOnMain("the token caches", [&] { buildTokenCache(project, *tokenizer, tokensReporter); });

  ModelConfig config =
      pretrainModelConfig(project, tokenizer->vocabSize(), tokenizer->bosId(), tokenizer->eosId(), tokenizer->padId());
  TrainingSettings settings = project.base_model.pretrain;
  settings.seq_len = std::min(settings.seq_len, config.max_position_embeddings);
  Json shards = Json::object();
  for (const Language& l : project.languages)
    shards[l.id] = readJsonFile(tokenCacheDir(project, l.id) / "manifest.json");
  const Json inputs{{"training", toJson(settings)},
                    {"model", config.toHfJson()},
                    {"tokenizer", tokenizer->fingerprint()},
                    {"shards", shards}};
  StageFolder folder(dir, inputs);
  // When it will train, before the folder is touched: a model this machine cannot hold is a settings error.
  if (!folder.current(options.force, modelDir) && !folder.inCache(options.force))
    checkTrainingMemory(config.parameterCount(), resolveDevice(project.device),
                        project.file.string() + " /base_model/config (hidden_size " + std::to_string(config.hidden_size) +
                            ", intermediate_size " + std::to_string(config.intermediate_size) + ", num_hidden_layers " +
                            std::to_string(config.num_hidden_layers) + ", vocab_size " +
                            std::to_string(config.vocab_size) + ")");
  // Checkpoints of other inputs are never resumed: begin() clears them.
  const bool done = folder.run(options.force, reporter, "pretrained model", modelDir,
                               [&] { return pretrainInto(project, config, settings, options, reporter); });
  reporter.finished(done ? "done" : "skipped");
  return modelDir;
}

}  // namespace dmoe
