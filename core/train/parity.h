// Parity with a recorded reference, llm.c's test_gpt2 idea: a checkpoint
// folder beside an `expected.safetensors` made by another implementation
// (scripts/device/make_hf_fixtures.py: Hugging Face transformers), holding
//   input_ids                  I64 [B,T]
//   logits                     F32 [B,T,V]   of those ids
//   loss                       F32 [1]       transformers' loss with labels = ids:
//                                            the token mean of −log p(id[t+1] | ids[..t])
//   grad_norm/<tensor name>    F64 [1]       L2 norm of the loss's gradient, one per
//                                            tensor of the checkpoint, by its name there
// (metadata "format": "dmoe-hf-fixture/1"). The workbench computes the same
// through its own loader (loadCausalLM), model and token loss, and each
// quantity is compared on its own scale: max |diff| ÷ max |reference| for the
// logits, |diff| ÷ |reference| for the loss and each gradient norm.
// A tied lm_head is not a checkpoint tensor (its gradient is in the
// embedding's); an expert no token chose has gradient norm 0.
// Not here: making a reference with transformers (the script above), bf16 or
// CUDA-specific tolerances (the caller chooses the tolerance).
#pragma once
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "model/causal_lm.h"

namespace dmoe {

// The quantities of one reference file (or of one workbench run).
struct ParityOutputs {
  torch::Tensor inputIds;                     // [B,T] int64, CPU
  torch::Tensor logits;                       // [B,T,V] float32, CPU
  double loss = 0;
  std::map<std::string, double> gradNorms;    // checkpoint tensor name → L2 norm
  std::map<std::string, std::string> metadata;
  // Of a workbench run: the smallest gap, over every token and MoE layer,
  // between the k-th and (k+1)-th router probability (+∞ when no layer chooses:
  // a dense model, or k = E). Below about 1e-6 another implementation's
  // rounding may choose differently.
  double minRouterMargin = std::numeric_limits<double>::infinity();
};

// The gap make_hf_fixtures.py asks of its MoE fixtures' ids, and --record of its own.
constexpr double kParityRouterMargin = 1e-3;

// The last forward's minRouterMargin of the model.
double minRouterMargin(const CausalLMImpl& model);

struct ParityIds {
  torch::Tensor ids;       // [batch, seq] int64
  std::uint64_t seed = 0;  // the seed that drew them
  double minRouterMargin = std::numeric_limits<double>::infinity();
};

// Ids for a reference of the checkpoint: uniform over the vocabulary without
// the pad id (an embedding row with padding_idx has no gradient in
// transformers), drawn from `seed`; for a mixture of experts the first of
// `attempts` seeds from `seed` on whose routing margin reaches
// kParityRouterMargin (else the best one found).
ParityIds drawParityIds(const std::filesystem::path& checkpointDir, std::int64_t batch, std::int64_t seq,
                        std::uint64_t seed, int attempts = 200);

// Reads an expected.safetensors. InputError naming the file and the tensor for
// a missing tensor or a wrong dtype or shape.
ParityOutputs readParityOutputs(const std::filesystem::path& file);

// Writes them in the same format (atomically), `metadata` added to the format tag.
void writeParityOutputs(const std::filesystem::path& file, const ParityOutputs& outputs,
                        const std::map<std::string, std::string>& metadata);

// One forward of `inputIds` through the model loaded from `checkpointDir`
// (on `device`, fp32), the loss and one backward; gradient norms by the
// checkpoint's tensor names. InputError when an id is outside the vocabulary
// (naming `idsSource`, the file they came from, when given), or when the
// folder does not load (model/load_model.h).
ParityOutputs computeParityOutputs(const std::filesystem::path& checkpointDir, const torch::Tensor& inputIds,
                                   const std::string& device = "cpu", const std::filesystem::path& idsSource = {});

struct ParityRow {
  std::string quantity;        // "logits", "loss", "grad_norm/<name>"
  double reference = 0, actual = 0;  // the logits' max |value|; the value otherwise
  double maxAbsDiff = 0;
  double relative = 0;         // maxAbsDiff on the reference's scale
  bool ok = false;             // relative ≤ tolerance (false for a quantity one side lacks)
  std::string note;            // why a row failed other than by size ("not in the workbench's checkpoint", …)
};

struct ParityReport {
  double tolerance = 0;
  std::vector<ParityRow> rows;  // logits, loss, then gradient norms by name
  double minRouterMargin = std::numeric_limits<double>::infinity();  // the workbench run's
  bool ok() const;
  std::size_t failures() const;
};

// Row by row; ids must be equal (else one failing "input_ids" row).
ParityReport compareParityOutputs(const ParityOutputs& expected, const ParityOutputs& actual, double tolerance);

// readParityOutputs(<dir>/expected.safetensors, or `expectedFile`) →
// computeParityOutputs on its ids → compareParityOutputs.
ParityReport checkParity(const std::filesystem::path& checkpointDir, const std::string& device, double tolerance,
                         const std::filesystem::path& expectedFile = {});

}  // namespace dmoe
