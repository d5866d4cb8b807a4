// A model's config.json: read with the family's defaults, completed (every
// field checked), written back, parameters counted. InputError only.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/model_config.h"
#include "util/atomic_file.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const dmoe::Json json = dmoe::parseJsonText(std::string(reinterpret_cast<const char*>(data), size), "config.json");
    const dmoe::ModelConfig config = dmoe::ModelConfig::fromHfJson(json, "config.json").completed("config.json");
    (void)config.toHfJson().dump();
    (void)config.parameterCount();
  } catch (const dmoe::InputError&) {
  }
  return 0;
}
