// Tiny causal LMs for trainer and perplexity tests, independent of the model
// families: a bigram model (the logits at a position depend only on that
// position's token, so context length cannot change its scores) and a model
// with all-zero logits (uniform over the vocabulary).
#pragma once
#include "model/causal_lm.h"

namespace dmoe::test {

// Neither model has decoder layers (L = 0): every layer index is out of range.
inline std::shared_ptr<FeedForwardImpl> noLayers(std::int64_t layer) {
  throw std::out_of_range("layer " + std::to_string(layer) + " of a model without decoder layers");
}

inline ModelConfig tinyConfig(std::int64_t vocab, std::int64_t context) {
  ModelConfig c;
  c.model_type = "test";
  c.vocab_size = vocab;
  c.hidden_size = 8;
  c.max_position_embeddings = context;
  return c;
}

// embed [V,8] → scale (a 1-D gain, like a norm) → head [V,8] + bias [V].
class BigramLMImpl : public CausalLMImpl {
 public:
  BigramLMImpl(std::int64_t vocab, std::int64_t context, std::uint64_t seed) : CausalLMImpl(tinyConfig(vocab, context)) {
    torch::manual_seed(seed);
    embed = register_module("embed", torch::nn::Embedding(vocab, 8));
    gain = register_parameter("gain", torch::ones({8}));
    head = register_module("head", torch::nn::Linear(8, vocab));
  }
  torch::Tensor hiddenStates(const torch::Tensor& inputIds) override { return embed(inputIds) * gain; }
  torch::Tensor logits(const torch::Tensor& hidden) override { return head(hidden); }
  std::shared_ptr<FeedForwardImpl> mlp(std::int64_t layer) const override { return noLayers(layer); }
  void setMlp(std::int64_t layer, std::shared_ptr<FeedForwardImpl>) override { noLayers(layer); }

  torch::nn::Embedding embed{nullptr};
  torch::Tensor gain;
  torch::nn::Linear head{nullptr};
};

class UniformLMImpl : public CausalLMImpl {
 public:
  UniformLMImpl(std::int64_t vocab, std::int64_t context) : CausalLMImpl(tinyConfig(vocab, context)) {}
  torch::Tensor hiddenStates(const torch::Tensor& inputIds) override {
    return torch::zeros({inputIds.size(0), inputIds.size(1), 1});
  }
  torch::Tensor logits(const torch::Tensor& hidden) override {
    return torch::zeros({hidden.size(0), hidden.size(1), config().vocab_size});
  }
  std::shared_ptr<FeedForwardImpl> mlp(std::int64_t layer) const override { return noLayers(layer); }
  void setMlp(std::int64_t layer, std::shared_ptr<FeedForwardImpl>) override { noLayers(layer); }
};

}  // namespace dmoe::test
