// Parity with a recorded reference (see the header).
#include "train/parity.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "checkpoint/hf_checkpoint.h"
#include "model/load_model.h"
#include "model/model_family.h"
#include "model/moe_feed_forward.h"
#include "train/token_loss.h"
#include "util/error.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

const char* const kFormat = "dmoe-hf-fixture/1";
const std::string kGradPrefix = "grad_norm/";

// The named tensor of the file, converted to `dtype`, with `dims` dimensions
// (and `numel` elements when > 0).
torch::Tensor readChecked(const safetensors::Reader& file, const std::string& name, torch::ScalarType dtype,
                          std::int64_t dims, std::int64_t numel = 0) {
  const safetensors::TensorEntry* entry = file.find(name);
  if (!entry) throw InputError(file.path().string() + ": no tensor \"" + name + "\"");
  const bool integral = dtype == torch::kInt64;
  const bool isIntegral = entry->dtype == safetensors::DType::I64 || entry->dtype == safetensors::DType::I32;
  if (integral != isIntegral)
    throw InputError(file.path().string() + ": \"" + name + "\" is " + safetensors::dtypeName(entry->dtype) +
                     ", expected " + (integral ? "I64 token ids" : "a floating-point tensor"));
  if (static_cast<std::int64_t>(entry->shape.size()) != dims || (numel > 0 && entry->numel() != numel))
    throw InputError(file.path().string() + ": \"" + name + "\" has shape " + shapeText(entry->shape) + ", expected " +
                     std::to_string(dims) + " dimension(s)" + (numel > 0 ? " and " + std::to_string(numel) + " value(s)" : ""));
  return readTensor(file, *entry, dtype);
}

// max |a − b| over two same-shaped CPU tensors (0 for empty ones).
double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return a.numel() == 0 ? 0.0 : (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

ParityRow scalarRow(const std::string& quantity, double reference, double actual, double tolerance) {
  ParityRow row{quantity, reference, actual, std::abs(actual - reference), 0, false, ""};
  row.relative = row.maxAbsDiff == 0 ? 0 : row.maxAbsDiff / std::max(std::abs(reference), 1e-30);
  row.ok = std::isfinite(actual) && row.relative <= tolerance;
  return row;
}

ParityRow missingRow(const std::string& quantity, const std::string& note) {
  ParityRow row;
  row.quantity = quantity;
  row.relative = std::numeric_limits<double>::infinity();
  row.note = note;
  return row;
}

}  // namespace

bool ParityReport::ok() const { return failures() == 0 && !rows.empty(); }

std::size_t ParityReport::failures() const {
  return static_cast<std::size_t>(std::count_if(rows.begin(), rows.end(), [](const ParityRow& r) { return !r.ok; }));
}

ParityOutputs readParityOutputs(const fs::path& file) {
  const safetensors::Reader reader(file);
  ParityOutputs out;
  out.metadata = reader.metadata();
  out.inputIds = readChecked(reader, "input_ids", torch::kInt64, 2);
  out.logits = readChecked(reader, "logits", torch::kFloat32, 3);
  if (out.logits.size(0) != out.inputIds.size(0) || out.logits.size(1) != out.inputIds.size(1))
    throw InputError(file.string() + ": \"logits\" has shape " + shapeText(out.logits.sizes().vec()) +
                     ", expected [B, T, V] with [B, T] = input_ids' " + shapeText(out.inputIds.sizes().vec()));
  if (out.inputIds.size(0) < 1 || out.inputIds.size(1) < 2)
    throw InputError(file.string() + ": \"input_ids\" needs at least one row of at least 2 positions");
  out.loss = readChecked(reader, "loss", torch::kFloat64, 1, 1).item<double>();
  for (const safetensors::TensorEntry& e : reader.tensors())
    if (e.name.rfind(kGradPrefix, 0) == 0)
      out.gradNorms[e.name.substr(kGradPrefix.size())] = readChecked(reader, e.name, torch::kFloat64, 1, 1).item<double>();
  return out;
}

void writeParityOutputs(const fs::path& file, const ParityOutputs& outputs,
                        const std::map<std::string, std::string>& metadata) {
  NamedTensors tensors{{"input_ids", outputs.inputIds.to(torch::kInt64).contiguous()},
                       {"logits", outputs.logits.to(torch::kFloat32).contiguous()},
                       {"loss", torch::tensor({outputs.loss}, torch::kFloat32)}};
  for (const auto& [name, norm] : outputs.gradNorms)
    tensors.emplace_back(kGradPrefix + name, torch::tensor({norm}, torch::kFloat64));
  std::map<std::string, std::string> meta = metadata;
  meta["format"] = kFormat;
  writeTensors(file, tensors, meta);
}

double minRouterMargin(const CausalLMImpl& model) {
  double margin = std::numeric_limits<double>::infinity();
  for (std::int64_t layer = 0; layer < model.config().num_hidden_layers; ++layer) {
    const auto moe = std::dynamic_pointer_cast<MoeFeedForwardImpl>(model.mlp(layer));
    if (!moe || !moe->lastRouterLogits.defined() || moe->topK() >= moe->numExperts()) continue;
    const std::int64_t k = moe->topK();
    const torch::Tensor top = std::get<0>(torch::softmax(moe->lastRouterLogits.to(torch::kFloat32), -1).topk(k + 1, -1));
    margin = std::min(margin, (top.select(1, k - 1) - top.select(1, k)).min().item<double>());
  }
  return margin;
}

ParityIds drawParityIds(const fs::path& checkpointDir, std::int64_t batch, std::int64_t seq, std::uint64_t seed,
                        int attempts) {
  std::shared_ptr<CausalLMImpl> model = loadCausalLM(checkpointDir);
  const ModelConfig& config = model->config();
  const bool hasPad = config.pad_token_id >= 0 && config.pad_token_id < config.vocab_size;
  torch::NoGradGuard noGrad;
  ParityIds best;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    auto generator = at::detail::createCPUGenerator(seed + static_cast<std::uint64_t>(attempt));
    torch::Tensor ids =
        torch::randint(0, config.vocab_size - (hasPad ? 1 : 0), {batch, seq}, generator, torch::kInt64);
    if (hasPad) ids = ids + (ids >= config.pad_token_id).to(torch::kInt64);
    model->forward(ids);
    const double margin = minRouterMargin(*model);
    if (attempt == 0 || margin > best.minRouterMargin) best = {ids, seed + static_cast<std::uint64_t>(attempt), margin};
    if (margin >= kParityRouterMargin) break;
  }
  return best;
}

ParityOutputs computeParityOutputs(const fs::path& checkpointDir, const torch::Tensor& inputIds,
                                   const std::string& device, const fs::path& idsSource) {
  std::shared_ptr<CausalLMImpl> model = loadCausalLM(checkpointDir, device);
  const ModelConfig& config = model->config();
  const std::int64_t lo = inputIds.min().item<std::int64_t>(), hi = inputIds.max().item<std::int64_t>();
  if (lo < 0 || hi >= config.vocab_size)
    throw InputError(checkpointDir.string() + ": input ids range over [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "], outside the vocabulary of " + std::to_string(config.vocab_size) +
                     (idsSource.empty() ? std::string() : " (ids from " + idsSource.string() + ")"));
  model->zero_grad();
  const torch::Tensor ids = inputIds.to(torch::Device(device));
  const torch::Tensor logits = model->forward(ids);
  const double margin = minRouterMargin(*model);
  const std::int64_t t = ids.size(1);
  // transformers' causal-LM loss: position t predicts id t + 1, mean over every such pair.
  const torch::Tensor loss = tokenLossSum(logits.slice(1, 0, t - 1), ids.slice(1, 1, t)) /
                             static_cast<double>(ids.size(0) * (t - 1));
  loss.backward();

  ParityOutputs out;
  out.inputIds = inputIds.to(torch::kInt64).cpu();
  out.logits = logits.detach().to(torch::kFloat32).cpu();
  out.loss = loss.item<double>();
  out.minRouterMargin = margin;
  const auto parameters = model->named_parameters(true);
  const ModelFamily& family = modelFamily(config.model_type);
  std::vector<std::string> names;
  std::vector<torch::Tensor> norms;  // on the device, read back once
  for (const std::string& name : CheckpointTensors::open(checkpointDir).names()) {
    const std::string moduleName = family.canonicalName ? family.canonicalName(name) : name;
    const torch::Tensor* p = parameters.find(moduleName);
    // A tied checkpoint that still stores the head: the loader ties it to the
    // embedding, whose gradient it shares (as transformers' reference does).
    if (!p && config.tie_word_embeddings && parameterModule(family, moduleName).kind == ModuleKind::Head)
      for (const auto& item : parameters)
        if (parameterModule(family, item.key()).kind == ModuleKind::Embedding) p = &item.value();
    if (!p) continue;  // a buffer (loadCausalLM refuses tensors the model lacks); the comparison names the gap
    names.push_back(name);
    norms.push_back(p->grad().defined() ? p->grad().to(torch::kFloat64).norm()
                                        : torch::tensor(0.0, p->options().dtype(torch::kFloat64)));
  }
  if (!norms.empty()) {
    const torch::Tensor all = torch::stack(norms).cpu();
    for (std::size_t i = 0; i < names.size(); ++i) out.gradNorms[names[i]] = all[static_cast<std::int64_t>(i)].item<double>();
  }
  return out;
}

ParityReport compareParityOutputs(const ParityOutputs& expected, const ParityOutputs& actual, double tolerance) {
  ParityReport report;
  report.tolerance = tolerance;
  if (!expected.inputIds.sizes().equals(actual.inputIds.sizes()) || !torch::equal(expected.inputIds, actual.inputIds)) {
    report.rows.push_back(missingRow("input_ids", "the two runs saw different token ids"));
    return report;
  }
  if (!expected.logits.sizes().equals(actual.logits.sizes())) {
    report.rows.push_back(missingRow("logits", "shape " + shapeText(actual.logits.sizes().vec()) + ", expected " +
                                                   shapeText(expected.logits.sizes().vec())));
  } else {
    ParityRow row;
    row.quantity = "logits";
    row.reference = expected.logits.abs().max().item<double>();
    row.actual = actual.logits.abs().max().item<double>();
    row.maxAbsDiff = maxAbsDiff(expected.logits, actual.logits);
    row.relative = row.maxAbsDiff / std::max(row.reference, 1e-30);
    row.ok = torch::isfinite(actual.logits).all().item<bool>() && row.relative <= tolerance;
    report.rows.push_back(row);
  }
  report.rows.push_back(scalarRow("loss", expected.loss, actual.loss, tolerance));
  for (const auto& [name, norm] : expected.gradNorms) {
    const auto it = actual.gradNorms.find(name);
    if (it == actual.gradNorms.end())
      report.rows.push_back(missingRow(kGradPrefix + name, "no parameter of the workbench's model under this name"));
    else
      report.rows.push_back(scalarRow(kGradPrefix + name, norm, it->second, tolerance));
  }
  for (const auto& [name, norm] : actual.gradNorms)
    if (!expected.gradNorms.count(name))
      report.rows.push_back(missingRow(kGradPrefix + name, "the reference has no gradient norm for it"));
  return report;
}

ParityReport checkParity(const fs::path& checkpointDir, const std::string& device, double tolerance,
                         const fs::path& expectedFile) {
  const fs::path file = expectedFile.empty() ? checkpointDir / "expected.safetensors" : expectedFile;
  const ParityOutputs expected = readParityOutputs(file);
  const ParityOutputs actual = computeParityOutputs(checkpointDir, expected.inputIds, device, file);
  ParityReport report = compareParityOutputs(expected, actual, tolerance);
  report.minRouterMargin = actual.minRouterMargin;
  return report;
}

}  // namespace dmoe
