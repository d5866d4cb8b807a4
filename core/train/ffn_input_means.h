// The mean unit FFN input of a language per layer (SPEC §2.1's measurement):
// while it lives, every layer's FFN is wrapped so that its input — the
// post-attention normalised hidden state, one vector per token — is divided
// by its norm and summed on the model's device (no host sync per document);
// the destructor puts the FFNs back. Works for any CausalLM, DMoE layers
// included (lifelong expansion measures the expanded model).
//
// Not here: which documents are read (the LayerMoE similarity stage) or the
// similarity arithmetic (methods/layer_similarity.h).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "corpus/token_shard.h"  // TokenSpan
#include "model/causal_lm.h"

namespace dmoe {

class FfnInputMeans {
 public:
  explicit FfnInputMeans(CausalLMImpl& model);
  ~FfnInputMeans();
  FfnInputMeans(const FfnInputMeans&) = delete;
  FfnInputMeans& operator=(const FfnInputMeans&) = delete;

  // Forward passes over `document`'s first `maxTokens` tokens (in eval mode,
  // without gradients); their unit FFN inputs join the sums.
  void addDocument(const TokenSpan& document, std::int64_t maxTokens);
  std::int64_t tokens() const { return tokens_; }
  // Per layer, the sum divided by the tokens so far (one copy to the host).
  std::vector<std::vector<double>> means() const;
  // Clears the sums for the next language.
  void reset();

 private:
  CausalLMImpl& model_;
  torch::Device device_;
  std::vector<std::shared_ptr<FeedForwardImpl>> original_;
  std::vector<torch::Tensor> sums_;  // [D] fp64 per layer, on the model's device
  std::int64_t tokens_ = 0;
};

}  // namespace dmoe
