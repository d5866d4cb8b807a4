// A .safetensors file's bytes: parseHeader validates the header and every
// tensor's bounds, throwing FormatError (an InputError) for anything else.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "checkpoint/safetensors.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto header = dmoe::safetensors::parseHeader(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
    for (const auto& t : header.tensors) (void)t.numel();
  } catch (const dmoe::InputError&) {
  }
  return 0;
}
