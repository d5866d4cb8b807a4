// Shared stage inputs (see the header).
#include "stages/stage_inputs.h"

#include <cmath>

#include "corpus/token_cache.h"
#include "stages/stage_folder.h"
#include "stages/pretrain.h"
#include "stages/tokenizer_training.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"

namespace fs = std::filesystem;

namespace dmoe {

fs::path baseModelDir(const Project& project) {
  return project.base_model.kind == "pretrain" ? pretrainedModelDir(project) : project.resolve(project.base_model.path);
}

bool baseIsMixtureOfExperts(const Project& project) {
  if (project.base_model.kind != "checkpoint") return false;
  const fs::path config = baseModelDir(project) / "config.json";
  if (!fs::exists(config)) return false;  // the stage that needs it says so
  const Json j = readJsonFile(config);
  return j.is_object() && j.contains("dmoe");
}

namespace {

// A checkpoint base reads ids below its vocab_size only: a tokenizer with more pieces is refused.
void checkTokenizerFitsCheckpoint(const Project& project, const fs::path& dir) {
  const Json config = readJsonFile(dir / "config.json");
  if (!config.contains("vocab_size") || !config["vocab_size"].is_number_integer()) return;  // the loader says so
  const std::int64_t vocab = config["vocab_size"].get<std::int64_t>();
  const std::int64_t pieces = loadProjectTokenizer(project)->vocabSize();
  if (pieces > vocab)
    throw InputError(project.file.string() + " /tokenizer/path: the tokenizer has " + std::to_string(pieces) +
                     " pieces, the checkpoint " + (dir / "config.json").string() + " has vocab_size " +
                     std::to_string(vocab) + ": its ids would index past the model's embeddings (use the "
                     "checkpoint's own tokenizer)");
}

}  // namespace

std::string baseModelFingerprint(const Project& project) {
  if (project.base_model.kind == "pretrain") return StageFolder::fingerprint(pretrainDir(project), "dmoe pretrain");
  const fs::path dir = baseModelDir(project);
  if (!fs::exists(dir / "config.json"))
    throw InputError(project.file.string() + " /base_model/path: " + dir.string() + " has no config.json");
  checkTokenizerFitsCheckpoint(project, dir);
  Hasher hasher;
  hasher.addFile(dir / "config.json");
  std::vector<fs::path> weights;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".safetensors" || entry.path().extension() == ".json") weights.push_back(entry.path());
  std::sort(weights.begin(), weights.end());
  for (const fs::path& file : weights) {
    hasher.add(file.filename().string());
    hasher.add(static_cast<std::uint64_t>(fs::file_size(file)));
    hasher.add(static_cast<std::uint64_t>(fs::last_write_time(file).time_since_epoch().count()));
  }
  return hasher.hex();
}

Json shardsFingerprint(const Project& project, const std::vector<Language>& languages) {
  Hasher hasher;
  for (const Language& l : languages) {
    const fs::path manifest = tokenCacheDir(project, l.id) / "manifest.json";
    if (!fs::exists(manifest))
      throw InputError(manifest.string() + " is missing: run `dmoe run --until tokens` first (tokenizes the corpus)");
    hasher.add(l.id).addFile(manifest);
  }
  return hasher.hex();
}

std::vector<TokenStream> LanguageShards::streams(double exponent) const {
  std::vector<TokenStream> out;
  for (size_t i = 0; i < shards.size(); ++i)
    out.push_back({ids[i], shards[i]->data(), shards[i]->tokenCount(),
                   std::pow(static_cast<double>(std::max<std::int64_t>(1, shards[i]->tokenCount())), exponent)});
  return out;
}

LanguageShards openShards(const Project& project, const std::vector<std::string>& ids, const std::string& split) {
  LanguageShards opened;
  for (const std::string& id : ids) {
    const fs::path file = tokenShardFile(project, id, split);
    if (!fs::exists(file))
      throw InputError(file.string() + " is missing: run `dmoe run --until tokens` first (tokenizes the corpus)");
    opened.ids.push_back(id);
    opened.shards.push_back(std::make_unique<TokenShard>(file));
  }
  return opened;
}

std::vector<std::string> languageIds(const std::vector<Language>& languages) {
  std::vector<std::string> ids;
  for (const Language& l : languages) ids.push_back(l.id);
  return ids;
}

std::vector<std::int64_t> halfDocuments(std::int64_t documents, int half) {
  std::vector<std::int64_t> out;
  for (std::int64_t d = half; d < documents; d += kSplitHalves) out.push_back(d);
  return out;
}

std::vector<std::uint32_t> halfTokens(const TokenShard& shard, int half, const std::string& language) {
  if (shard.documentCount() < kSplitHalves)
    throw InputError(language + ": its continual slice (" + shard.file().string() + ") has " +
                     std::to_string(shard.documentCount()) +
                     " document(s); the split-half check needs two or more (or set similarity.split_half to false)");
  std::vector<std::uint32_t> tokens;
  for (std::int64_t d : halfDocuments(shard.documentCount(), half)) {
    const TokenSpan span = shard.document(d);
    tokens.insert(tokens.end(), span.begin(), span.end());
  }
  return tokens;
}

TrainingSettings cappedToContext(TrainingSettings settings, std::int64_t context) {
  settings.seq_len = std::min(settings.seq_len, context);
  return settings;
}

}  // namespace dmoe
