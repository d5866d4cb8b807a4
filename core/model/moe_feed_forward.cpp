// The mixture-of-experts FFN (see the header).
#include "model/moe_feed_forward.h"

#include <algorithm>
#include <limits>
#include <map>

#include "util/error.h"

namespace dmoe {

MoeFeedForwardImpl::MoeFeedForwardImpl(std::vector<std::shared_ptr<FeedForwardImpl>> expertList,
                                       std::int64_t hiddenSize, std::int64_t topK, double routerStd,
                                       std::shared_ptr<Routing> routing)
    : topK_(topK), routing_(std::move(routing)) {
  if (expertList.empty() || topK < 1 || !routing_)
    throw InputError("MoE layer: needs at least one expert, top_k ≥ 1 and a routing object");
  const auto e = static_cast<std::int64_t>(expertList.size());
  gate = register_module("gate", torch::nn::Linear(torch::nn::LinearOptions(hiddenSize, e).bias(false)));
  {
    torch::NoGradGuard noGrad;
    gate->weight.normal_(0.0, routerStd);
  }
  experts = register_module("experts", torch::nn::ModuleList());
  for (auto& expert : expertList) experts->push_back(expert);
  generations_.assign(expertList.size(), 0);
}

void MoeFeedForwardImpl::setExpertGenerations(std::vector<std::int64_t> generations) {
  if (static_cast<std::int64_t>(generations.size()) != numExperts())
    throw InputError("MoE layer: " + std::to_string(generations.size()) + " expert generations for " +
                     std::to_string(numExperts()) + " experts");
  for (std::int64_t g : generations)
    if (g < 0) throw InputError("MoE layer: an expert generation is negative");
  generations_ = std::move(generations);
  generationsOnDevice_ = torch::Tensor();
}

bool MoeFeedForwardImpl::classifierDecides() const {
  return classes() > *std::max_element(generations_.begin(), generations_.end());
}

std::shared_ptr<FeedForwardImpl> MoeFeedForwardImpl::expert(std::int64_t e) const {
  return std::dynamic_pointer_cast<FeedForwardImpl>(experts->ptr(static_cast<size_t>(e)));
}

torch::Tensor MoeFeedForwardImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = routed(x);
  if (sharedExpert) out = out + torch::sigmoid(sharedExpertGate(x)) * sharedExpert->forward(x);
  return out;
}

void MoeFeedForwardImpl::addSharedExpert(std::shared_ptr<FeedForwardImpl> shared) {
  if (sharedExpert) throw std::logic_error("addSharedExpert: the layer has one");
  const torch::Tensor like = gate->weight;
  sharedExpert = register_module("shared_expert", std::move(shared));
  sharedExpertGate = register_module("shared_expert_gate", torch::nn::Linear(torch::nn::LinearOptions(like.size(1), 1).bias(false)));
  sharedExpert->to(like.device(), like.scalar_type());
  sharedExpertGate->to(like.device(), like.scalar_type());
}

torch::Tensor MoeFeedForwardImpl::routed(const torch::Tensor& x) {
  const torch::Tensor flat = x.reshape({-1, x.size(-1)});  // [N,D], N = B·T
  // fp32 router logits: the softmax and the router losses must not run in bf16.
  lastRouterLogits = gate(flat).to(torch::kFloat32);       // [N,E]
  if (routing_->mode == Routing::Mode::Hard) {
    lastTopExperts = lastClassLogits = torch::Tensor();
    return forwardHard(x);
  }
  torch::Tensor tokenClass;
  if (classifier) {
    lastClassLogits = classifier(causalRunningMean(x.detach())).to(torch::kFloat32).reshape({-1, classes()});
    if (!is_training() && classifierDecides()) tokenClass = lastClassLogits.argmax(-1);
  } else {
    lastClassLogits = torch::Tensor();
  }
  return forwardSoft(flat, lastRouterLogits, tokenClass).view(x.sizes());
}

torch::Tensor causalRunningMean(const torch::Tensor& x) {
  const torch::Tensor counts = torch::arange(1, x.size(1) + 1, x.options()).view({1, -1, 1});
  return x.cumsum(1) / counts;
}

// A [rows, columns] xavier-normal draw, made in fp32 by the CPU generator (so
// a seed gives the same rows on every device), then put on `like`'s device and dtype.
static torch::Tensor xavierNormal(std::int64_t rows, std::int64_t columns, const torch::Tensor& like) {
  torch::Tensor w = torch::empty({rows, columns}, torch::kFloat32);
  torch::NoGradGuard noGrad;
  torch::nn::init::xavier_normal_(w);
  return w.to(like.options());
}

// A linear map without bias whose first rows are `kept` and the rest `grown`'s last rows.
static torch::nn::Linear grownLinear(const torch::Tensor& kept, const torch::Tensor& grown) {
  auto linear = torch::nn::Linear(torch::nn::LinearOptions(kept.size(1), grown.size(0)).bias(false));
  linear->to(kept.device(), kept.scalar_type());
  torch::NoGradGuard noGrad;
  linear->weight.copy_(torch::cat({kept.detach(), grown.narrow(0, kept.size(0), grown.size(0) - kept.size(0))}, 0));
  return linear;
}

void MoeFeedForwardImpl::growClassifier(std::int64_t classes) {
  if (!classifier) throw InputError("MoE layer: it has no classifier to grow");
  if (classes <= this->classes())
    throw InputError("MoE layer: the classifier has " + std::to_string(this->classes()) + " classes; cannot grow it to " +
                     std::to_string(classes));
  const torch::Tensor w = classifier->weight;
  classifier = replace_module("classifier", grownLinear(w, xavierNormal(classes, w.size(1), w)));
}

void MoeFeedForwardImpl::addExperts(std::vector<std::shared_ptr<FeedForwardImpl>> added, std::int64_t generation) {
  if (added.empty()) return;
  if (generation < 0) throw InputError("MoE layer: an expert generation is negative");
  const torch::Tensor w = gate->weight;
  const auto grownRows = numExperts() + static_cast<std::int64_t>(added.size());
  gate = replace_module("gate", grownLinear(w, xavierNormal(grownRows, w.size(1), w)));
  for (auto& expert : added) {
    expert->to(w.device());
    experts->push_back(expert);
    generations_.push_back(generation);
  }
  generationsOnDevice_ = torch::Tensor();
}

void MoeFeedForwardImpl::addClassifier(std::int64_t classes) {
  if (classifier) throw InputError("MoE layer: it already has a classifier");
  if (classes < 2) throw InputError("MoE layer: a classifier needs at least 2 classes");
  const torch::Tensor g = gate->weight;
  classifier = register_module("classifier", torch::nn::Linear(torch::nn::LinearOptions(g.size(1), classes).bias(false)));
  torch::NoGradGuard noGrad;
  torch::nn::init::xavier_normal_(classifier->weight);
  classifier->to(g.device());
}

torch::Tensor MoeFeedForwardImpl::forwardHard(const torch::Tensor& x) {
  const std::int64_t rows = x.size(0), e = numExperts();
  const std::vector<std::int64_t>& assigned = routing_->rowExpert;
  if (!routing_->uniform && static_cast<std::int64_t>(assigned.size()) != rows)
    throw InputError("hard routing: " + std::to_string(assigned.size()) + " row experts given for a batch of " +
                     std::to_string(rows) + " rows");
  auto expertOfRow = [&](std::int64_t row) { return routing_->uniform ? assigned.front() : assigned[row]; };
  std::map<std::int64_t, std::vector<std::int64_t>> rowsOf;  // expert → rows, from host values (no device sync)
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t expertIndex = expertOfRow(row);
    if (expertIndex < 0 || expertIndex >= e)
      throw InputError("hard routing: expert " + std::to_string(expertIndex) + " of row " + std::to_string(row) +
                       " does not exist (the layer has " + std::to_string(e) + " experts)");
    rowsOf[expertIndex].push_back(row);
  }
  if (rowsOf.size() == 1) return expert(rowsOf.begin()->first)->forward(x);  // group-pure batch: one call
  torch::Tensor out = torch::empty_like(x);
  for (auto& [expertIndex, rowList] : rowsOf) {
    const torch::Tensor index = torch::tensor(rowList, torch::kInt64).to(x.device(), /*non_blocking=*/true);
    out.index_copy_(0, index, expert(expertIndex)->forward(x.index_select(0, index)).to(x.scalar_type()));
  }
  return out;
}

torch::Tensor MoeFeedForwardImpl::forwardSoft(const torch::Tensor& flat, const torch::Tensor& logits,
                                              const torch::Tensor& tokenClass) {
  torch::Tensor allowed = logits;
  if (tokenClass.defined() && *std::max_element(generations_.begin(), generations_.end()) >= 2) {
    // class c ≥ 1: only experts of generation ≤ c compete (class 0 is handled below)
    if (!generationsOnDevice_.defined() || generationsOnDevice_.device() != logits.device())
      generationsOnDevice_ = torch::tensor(generations_, torch::kInt64).to(logits.device());
    const torch::Tensor later = generationsOnDevice_.unsqueeze(0) > tokenClass.unsqueeze(-1);  // [N,E]
    allowed = logits.masked_fill(later, -std::numeric_limits<float>::infinity());
  }
  const torch::Tensor probabilities = torch::softmax(allowed, -1);      // [N,E] fp32
  auto [weights, chosen] = probabilities.topk(topK(), -1);              // [N,k]
  if (normalizeTopK_) weights = weights / weights.sum(-1, /*keepdim=*/true);  // renormalised over the k
  if (tokenClass.defined()) {  // the classifier's class 0: expert 0 in the first slot with weight 1
    const torch::Tensor mask = (tokenClass == 0).unsqueeze(-1);         // [N,1]
    chosen = torch::where(mask, torch::zeros_like(chosen), chosen);
    weights = torch::where(mask, torch::zeros_like(weights).index_fill_(1, torch::zeros({1}, chosen.options()), 1.0), weights);
    // A slot of weight 0 — class 0's other slots, or a masked expert when the
    // class allows fewer than k — is empty (−1): no expert runs for it.
    chosen = torch::where(weights > 0, chosen, torch::full_like(chosen, -1));
  }
  lastTopExperts = chosen;
  torch::Tensor out = torch::zeros_like(flat);
  // Dispatch each expert's tokens only: the N·k (token, slot) choices sorted
  // by expert (stable, so each expert's tokens stay in ascending order), and
  // where each expert's run starts (searchsorted) read back to the host once
  // per layer: the dispatch's one device sync (bincount would read min and
  // max back first; running every expert on every token instead would cost
  // E/k times the FFN compute). Empty slots (−1) sort first and are skipped.
  const std::int64_t k = chosen.size(1), e = numExperts();
  const torch::Tensor slotExpert = chosen.reshape({-1});                                 // [N·k]
  const auto [sortedExperts, order] = slotExpert.sort(c10::optional<bool>(true), /*dim=*/0, /*descending=*/false);
  const torch::Tensor starts =  // [E+2]: the first slot of −1, of experts 0 … E−1, and N·k
      torch::searchsorted(sortedExperts, torch::arange(-1, e + 1, slotExpert.options())).cpu();
  const std::int64_t* start = starts.data_ptr<std::int64_t>();
  const torch::Tensor slotWeight = weights.reshape({-1});
  for (std::int64_t i = 0; i < e; ++i) {
    const std::int64_t offset = start[i + 1], n = start[i + 2] - start[i + 1];
    if (n == 0) continue;
    const torch::Tensor slots = order.narrow(0, offset, n);                               // [n_e]
    const torch::Tensor tokens = slots.div(k, "floor");                                   // a token once per expert
    const torch::Tensor weight = slotWeight.index_select(0, slots).unsqueeze(-1);         // [n_e,1] fp32
    const torch::Tensor y = expert(i)->forward(flat.index_select(0, tokens));             // [n_e,D]
    out.index_add_(0, tokens, (y.to(torch::kFloat32) * weight).to(out.scalar_type()));
  }
  return out;
}

void MoeFeedForwardImpl::addExpert(std::shared_ptr<FeedForwardImpl> newExpert, std::int64_t routerRowFrom) {
  const std::int64_t e = numExperts();
  if (routerRowFrom < 0 || routerRowFrom >= e)
    throw InputError("add expert: router row " + std::to_string(routerRowFrom) + " does not exist");
  torch::Tensor old = gate->weight.detach();
  auto grown = torch::nn::Linear(torch::nn::LinearOptions(old.size(1), e + 1).bias(false));
  {
    torch::NoGradGuard noGrad;
    grown->weight.copy_(torch::cat({old, old.narrow(0, routerRowFrom, 1)}, 0).to(grown->weight.options()));
  }
  grown->to(old.device());
  gate = replace_module("gate", grown);
  newExpert->to(old.device());
  experts->push_back(newExpert);
  generations_.push_back(generations_[static_cast<size_t>(routerRowFrom)]);
  generationsOnDevice_ = torch::Tensor();
}

std::shared_ptr<FeedForwardImpl> copyFeedForward(const FeedForwardImpl& source, const ModelConfig& config) {
  std::shared_ptr<FeedForwardImpl> copy = buildFeedForward(config);
  torch::NoGradGuard noGrad;
  const auto from = source.named_parameters(true);
  for (auto& p : copy->named_parameters(true)) {
    const torch::Tensor* value = from.find(p.key());
    if (!value) throw InputError("copying an FFN: the source has no parameter '" + p.key() + "'");
    p.value().copy_(*value);
  }
  copy->to(source.parameters().front().device());
  return copy;
}

}  // namespace dmoe
