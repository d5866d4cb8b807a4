#include "checkpoint/tensor_bridge.h"

#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace dmoe {

namespace {
using safetensors::DType;
constexpr std::pair<DType, torch::ScalarType> kTypes[] = {
    {DType::F64, torch::kFloat64}, {DType::F32, torch::kFloat32}, {DType::F16, torch::kFloat16},
    {DType::BF16, torch::kBFloat16}, {DType::I64, torch::kInt64}, {DType::I32, torch::kInt32},
    {DType::I16, torch::kInt16}, {DType::I8, torch::kInt8}, {DType::U8, torch::kUInt8},
    {DType::BOOL, torch::kBool},
};
}  // namespace

torch::ScalarType toScalarType(DType dtype) {
  for (const auto& [d, t] : kTypes)
    if (d == dtype) return t;
  throw std::logic_error("tensor_bridge: unhandled safetensors dtype");
}

DType toSafetensorsDType(torch::ScalarType type, const std::string& tensorName) {
  for (const auto& [d, t] : kTypes)
    if (t == type) return d;
  throw std::invalid_argument("tensor '" + tensorName + "' has dtype " + std::string(c10::toString(type)) +
                              ", which safetensors cannot store");
}

torch::Tensor readTensor(const safetensors::Reader& file, const safetensors::TensorEntry& entry,
                         std::optional<torch::ScalarType> dtype) {
  std::string_view bytes = file.bytes(entry);
  torch::ScalarType stored = toScalarType(entry.dtype);
  torch::Tensor tensor;
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % safetensors::dtypeSize(entry.dtype) == 0) {
    // A view of the read-only map: only ever read, then copied by to()/clone().
    torch::Tensor view = torch::from_blob(const_cast<char*>(bytes.data()), entry.shape, stored);
    tensor = dtype && *dtype != stored ? view.to(*dtype) : view.clone();
  } else {
    // Other writers need not align the data; copy bytewise first.
    tensor = torch::empty(entry.shape, torch::TensorOptions().dtype(stored));
    if (!bytes.empty()) std::memcpy(tensor.data_ptr(), bytes.data(), bytes.size());
    if (dtype && *dtype != stored) tensor = tensor.to(*dtype);
  }
  return tensor;
}

void writeTensors(const std::filesystem::path& file, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> contiguous;
  std::vector<safetensors::TensorData> data;
  contiguous.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    const torch::Tensor& t = contiguous.emplace_back(tensor.detach().to(torch::kCPU).contiguous());
    data.push_back({name, toSafetensorsDType(t.scalar_type(), name),
                    std::vector<std::int64_t>(t.sizes().begin(), t.sizes().end()),
                    std::string_view(static_cast<const char*>(t.data_ptr()), t.nbytes())});
  }
  safetensors::write(file, data, metadata);
}

}  // namespace dmoe
