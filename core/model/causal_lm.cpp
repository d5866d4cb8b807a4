// The family dispatch: a ModelConfig → the network of its family, initialised as HF does.
#include "model/causal_lm.h"

#include <stdexcept>

#include "model/bloom.h"
#include "model/llama.h"
#include "model/model_family.h"
#include "util/error.h"

namespace dmoe {

void CausalLMImpl::checkLayerIndex(std::int64_t layer) const {
  if (layer < 0 || layer >= config_.num_hidden_layers)
    throw std::out_of_range("layer " + std::to_string(layer) + " out of range (the model has " +
                            std::to_string(config_.num_hidden_layers) + ")");
}

namespace {

// HF's _init_weights: Linear and Embedding weights N(0, 0.02), biases 0.
// Norm weights are set by their own constructors (1, or 0 for Gemma's 1+w).
void initialiseLikeHf(torch::nn::Module& model) {
  torch::NoGradGuard noGrad;
  model.apply([](torch::nn::Module& m) {
    if (auto* linear = m.as<torch::nn::Linear>()) {
      linear->weight.normal_(0.0, 0.02);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* embedding = m.as<torch::nn::Embedding>()) {
      embedding->weight.normal_(0.0, 0.02);
    }
  });
}

}  // namespace

std::shared_ptr<CausalLMImpl> buildCausalLM(const ModelConfig& config) {
  const ModelConfig c = config.completed("model config");
  std::shared_ptr<CausalLMImpl> model;
  if (modelFamily(c.model_type).implementation == Implementation::Bloom)
    model = std::make_shared<BloomForCausalLMImpl>(c);
  else
    model = std::make_shared<LlamaForCausalLMImpl>(c);
  initialiseLikeHf(*model);
  return model;
}

std::shared_ptr<FeedForwardImpl> buildFeedForward(const ModelConfig& config) {
  const ModelConfig c = config.completed("model config");
  std::shared_ptr<FeedForwardImpl> mlp;
  if (modelFamily(c.model_type).implementation == Implementation::Bloom)
    mlp = std::make_shared<BloomMlpImpl>(c);
  else
    mlp = std::make_shared<GatedMlpImpl>(c);
  initialiseLikeHf(*mlp);
  return mlp;
}

}  // namespace dmoe
