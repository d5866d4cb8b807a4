// Between safetensors entries and torch tensors: dtype mapping, reading an
// entry into an owning tensor, writing named tensors as one file. The format
// itself (validation, layout) is safetensors.h.
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/safetensors.h"
#include "torch_compat.h"

namespace dmoe {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

torch::ScalarType toScalarType(safetensors::DType dtype);
// Throws std::invalid_argument naming `tensorName` for dtypes safetensors lacks (complex, quantized).
safetensors::DType toSafetensorsDType(torch::ScalarType type, const std::string& tensorName);

// An owning CPU tensor with the entry's values (copied out of the map), in
// `dtype` when given (e.g. fp16 file → fp32), else in the file's dtype.
torch::Tensor readTensor(const safetensors::Reader& file, const safetensors::TensorEntry& entry,
                         std::optional<torch::ScalarType> dtype = std::nullopt);

// Writes the tensors (any device, any strides) as one safetensors file, atomically.
void writeTensors(const std::filesystem::path& file, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace dmoe
