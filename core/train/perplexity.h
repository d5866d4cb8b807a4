// Held-out perplexity (SPEC §1.7): token-weighted NLL per document, summed per
// language, PPL = exp(Σ NLL / Σ tokens).
//
// Documents longer than the window are scored with Hugging Face's sliding-
// window recipe: windows start every `stride` tokens; the first window scores
// all its tokens, each later one only the tokens after the previous window's
// end, so every token but a document's first (which has no context) is scored
// exactly once, with up to window − stride tokens of left context.
// Windows of all documents are batched (sorted by length, right-padded; a
// causal model's scores do not see the padding). Runs under NoGradGuard with
// the model in eval() mode; on CUDA with bf16 compute (the log-softmax in fp32).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "corpus/token_shard.h"  // TokenSpan
#include "model/causal_lm.h"

namespace dmoe {

// One forward pass over tokens [begin, end); labels at positions ≥ scoreFrom are scored.
struct ScoringWindow {
  std::int64_t begin = 0, end = 0, scoreFrom = 0;
};

// The windows of a document of `length` tokens (none if length < 2).
// window ≥ 2; stride in [1, window − 1]. Throws InputError otherwise.
std::vector<ScoringWindow> slidingWindows(std::int64_t length, std::int64_t window, std::int64_t stride);

struct PerplexityOptions {
  std::int64_t window = 0;      // 0 = the model's max_position_embeddings
  std::int64_t stride = 0;      // 0 = window / 2
  std::int64_t batchWindows = 8;  // windows per forward pass
};

struct NllTotal {
  double nll = 0;           // Σ −log p(token | context), natural log
  std::int64_t tokens = 0;  // tokens scored
  double perplexity() const;  // exp(nll / tokens); NaN when nothing was scored
};

// The first `budget` scorable tokens of `documents` in order (a document's
// first token is never scored): whole documents while they fit, the next one
// cut to what is left, none after; documents shorter than 2 tokens are
// skipped. budget 0 = every document as it is.
std::vector<TokenSpan> leadingTokens(const std::vector<TokenSpan>& documents, std::int64_t budget);

// Σ NLL over every document; the model's parameters decide the device.
NllTotal documentsNll(CausalLMImpl& model, const std::vector<TokenSpan>& documents, const PerplexityOptions& options);

}  // namespace dmoe
