// Sliding-window perplexity (see the header).
#include "train/perplexity.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "train/autocast_guard.h"
#include "train/batch_source.h"
#include "util/error.h"

namespace dmoe {

double NllTotal::perplexity() const {
  return tokens > 0 ? std::exp(nll / static_cast<double>(tokens)) : std::numeric_limits<double>::quiet_NaN();
}

std::vector<ScoringWindow> slidingWindows(std::int64_t length, std::int64_t window, std::int64_t stride) {
  if (window < 2 || stride < 1 || stride >= window)
    throw InputError("perplexity window " + std::to_string(window) + " / stride " + std::to_string(stride) +
                     ": expected window ≥ 2 and 1 ≤ stride < window");
  std::vector<ScoringWindow> windows;
  std::int64_t previousEnd = 0;
  for (std::int64_t begin = 0; length >= 2 && previousEnd < length; begin += stride) {
    std::int64_t end = std::min(begin + window, length);
    // A token is scored when its prediction has context (position > begin) and it was not scored before.
    windows.push_back({begin, end, std::max(previousEnd, begin + 1)});
    previousEnd = end;
  }
  return windows;
}

std::vector<TokenSpan> leadingTokens(const std::vector<TokenSpan>& documents, std::int64_t budget) {
  if (budget <= 0) return documents;
  std::vector<TokenSpan> out;
  for (const TokenSpan& doc : documents) {
    if (budget == 0) break;
    const auto size = static_cast<std::int64_t>(doc.size);
    if (size < 2) continue;
    const std::int64_t taken = std::min(size, budget + 1);
    out.push_back({doc.data, static_cast<std::size_t>(taken)});
    budget -= taken - 1;
  }
  return out;
}

NllTotal documentsNll(CausalLMImpl& model, const std::vector<TokenSpan>& documents, const PerplexityOptions& options) {
  const std::int64_t window = options.window > 0 ? options.window : model.config().max_position_embeddings;
  const std::int64_t stride = options.stride > 0 ? options.stride : window / 2;
  if (options.batchWindows < 1) throw InputError("perplexity: batchWindows must be ≥ 1");

  struct Job {
    const std::uint32_t* tokens;
    ScoringWindow w;
  };
  std::vector<Job> jobs;
  for (const TokenSpan& doc : documents)
    for (const ScoringWindow& w : slidingWindows(static_cast<std::int64_t>(doc.size), window, stride))
      jobs.push_back({doc.data, w});
  // Similar lengths together: little padding.
  std::stable_sort(jobs.begin(), jobs.end(),
                   [](const Job& a, const Job& b) { return a.w.end - a.w.begin > b.w.end - b.w.begin; });

  torch::NoGradGuard noGrad;
  const bool wasTraining = model.is_training();
  model.eval();
  const auto params = model.parameters();
  const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();

  NllTotal total;
  // Sums stay on the device: one host read at the end, not two per batch.
  torch::Tensor nllSum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  torch::Tensor tokenSum = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(device));
  for (std::size_t first = 0; first < jobs.size(); first += options.batchWindows) {
    const std::size_t last = std::min(jobs.size(), first + options.batchWindows);
    const std::int64_t rows = static_cast<std::int64_t>(last - first);
    const std::int64_t width = jobs[first].w.end - jobs[first].w.begin - 1;  // inputs: all but the last token
    torch::Tensor inputs = torch::zeros({rows, width}, torch::kInt64);
    torch::Tensor labels = torch::full({rows, width}, kIgnoreLabel, torch::kInt64);
    auto* in = inputs.data_ptr<std::int64_t>();
    auto* lab = labels.data_ptr<std::int64_t>();
    for (std::int64_t r = 0; r < rows; ++r) {
      const Job& job = jobs[first + r];
      for (std::int64_t pos = job.w.begin; pos + 1 < job.w.end; ++pos) {
        const std::int64_t i = r * width + (pos - job.w.begin);
        in[i] = job.tokens[pos];
        if (pos + 1 >= job.w.scoreFrom) lab[i] = job.tokens[pos + 1];
      }
    }
    torch::Tensor logits;
    {
      Bf16Autocast autocast(device);
      logits = model.forward(inputs.to(device));
    }
    torch::Tensor target = labels.to(device);
    torch::Tensor scoredMask = target != kIgnoreLabel;
    torch::Tensor logProbs = torch::log_softmax(logits.to(torch::kFloat32), -1);
    torch::Tensor picked = logProbs.gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1);
    nllSum -= picked.masked_select(scoredMask).to(torch::kFloat64).sum();
    tokenSum += scoredMask.sum();
  }
  total.nll = nllSum.item<double>();
  total.tokens = tokenSum.item<std::int64_t>();
  if (wasTraining) model.train();
  return total;
}

}  // namespace dmoe
