// The data protocol's slices of one language's documents (SPEC 1.0):
//   heldout   — every evaluation (corpus.heldout);
//   pretrain  — the base the pipeline pretrains, and its tokenizer's sample
//               (corpus.pretrain, taken from the documents not held out);
//   continual — the rest: deviation, DMoE training, baselines, adaptation.
// Disjoint by document. The same (seeds, language id, document count,
// settings) always gives the same slices, on every machine: seeded shuffles of
// indices with our own PRNG (splitmix64), not std:: distributions whose output
// differs between standard libraries. The held-out documents do not depend on
// the pretrain settings.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "project/project.h"
#include "util/splitmix64.h"

namespace dmoe {

// How many of n documents are held out: settings.count if > 0, else
// round(fraction · n); raised to min_documents when n > min_documents; and
// never all of them (at most n − 1, so a single document stays for training).
std::int64_t heldoutCount(std::int64_t documentCount, const HeldoutSettings& settings);

// mask[i] == true: document i (0-based among valid documents) is held out.
// The held-out documents are the first heldoutCount() indices of a partial
// Fisher–Yates shuffle driven by SplitMix64(FNV-1a(seed, languageId)).
std::vector<bool> heldoutMask(std::int64_t documentCount, const HeldoutSettings& settings,
                              const std::string& languageId);

enum class Slice : std::uint8_t { pretrain, continual, heldout };
// "pretrain" | "continual" | "heldout": also the token shards' file names.
const char* sliceName(Slice slice);

// How many of the `remaining` (not held-out) documents pretrain the base:
// settings.count if > 0, else round(fraction · remaining), at most
// remaining − 1 (one document always stays continual), 0 when remaining ≤ 1.
std::int64_t pretrainCount(std::int64_t remaining, const PretrainSliceSettings& settings);

// The slice of every document (0-based among valid documents). Held-out ones
// are heldoutMask's; of the rest, pretrainCount() chosen by a partial
// Fisher–Yates shuffle driven by SplitMix64(FNV-1a(pretrain seed, languageId,
// "pretrain")) are pretrain. withPretrain false (a new language, a checkpoint
// base): no pretrain slice.
std::vector<Slice> documentSlices(std::int64_t documentCount, const CorpusSettings& corpus,
                                  const std::string& languageId, bool withPretrain);

}  // namespace dmoe
