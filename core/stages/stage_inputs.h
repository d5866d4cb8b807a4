// What the DMoE stages (deviation … report) have in common: the base model
// and its fingerprint, and the project's token shards opened as training
// streams.
//
// Where each stage's folder is: results/run_layout.h (Project::layout()).
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "corpus/token_shard.h"
#include "project/project.h"
#include "train/sequence_sampler.h"

namespace dmoe {

// base_model.path (kind checkpoint) or <runs_dir>/pretrain/model.
std::filesystem::path baseModelDir(const Project& project);
// Whether the base is already a mixture-of-experts model (a checkpoint whose
// config.json has "dmoe": an earlier DMoE or LayerMoE run's model). The DMoE
// stages grow a dense base and skip such a project; LayerMoE expands it further.
bool baseIsMixtureOfExperts(const Project& project);
// Identity of the base model for manifests: the pretrain manifest's hash, or
// for a checkpoint its config.json and the names, sizes and times of its weight files.
// Throws InputError when the base model does not exist yet (naming the command that makes it),
// or when the project's tokenizer has more pieces than the checkpoint's vocab_size.
std::string baseModelFingerprint(const Project& project);
// Identity of the token shards of `languages` (their cache manifests).
Json shardsFingerprint(const Project& project, const std::vector<Language>& languages);

// Opened continual-slice (or another slice's) shards of some languages, kept
// mapped while streams point into them. Every DMoE stage trains on the
// continual slice (SPEC 1.0): the base never saw it.
struct LanguageShards {
  std::vector<std::string> ids;
  std::vector<std::unique_ptr<TokenShard>> shards;
  // One stream per language; weight = tokens^exponent (1 = ∝ size, 0.3 = SPEC 1.6's within-group sampling).
  std::vector<TokenStream> streams(double exponent = 1.0) const;
  std::int64_t tokens(size_t i) const { return shards[i]->tokenCount(); }
};
// Throws InputError naming a missing shard (run `dmoe run --until tokens`).
LanguageShards openShards(const Project& project, const std::vector<std::string>& languageIds,
                          const std::string& split = "continual");

std::vector<std::string> languageIds(const std::vector<Language>& languages);

// Split half (similarity.split_half): document d of a language's continual
// slice belongs to half d % 2 (alternate documents, so both halves span the
// corpus order alike). "a" and "b" name halves 0 and 1 in files and messages.
constexpr int kSplitHalves = 2;
std::vector<std::int64_t> halfDocuments(std::int64_t documents, int half);  // half, half + 2, … below `documents`
inline const char* halfName(int half) { return half == 0 ? "a" : "b"; }
// The tokens of one half, documents back to back (a copy: halves are not
// contiguous in the shard). Throws InputError naming the language when the
// slice has fewer than two documents.
std::vector<std::uint32_t> halfTokens(const TokenShard& shard, int half, const std::string& language);

// Training settings with seq_len capped at the model's context.
TrainingSettings cappedToContext(TrainingSettings settings, std::int64_t context);

}  // namespace dmoe
