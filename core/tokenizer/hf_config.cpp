// Errors that name the tokenizer.json component and file (see hf_config.h).
#include "tokenizer/hf_config.h"

#include "util/error.h"

namespace dmoe::hf {

void throwConfigError(const ConfigSource& source, const std::string& message) {
  throw InputError(source.file.string() + " " + (source.where.empty() ? "/" : source.where) + ": " + message);
}

void throwUnsupported(const ConfigSource& source, const std::string& kind, const std::string& type,
                      const std::string& supported) {
  throwConfigError(source, "unsupported " + kind + " type \"" + type + "\" (supported: " + supported + ")");
}

std::string componentType(const nlohmann::json& component, const ConfigSource& source) {
  if (!component.is_object()) throwConfigError(source, "expected an object");
  auto it = component.find("type");
  if (it == component.end() || !it->is_string()) throwConfigError(source, "expected a \"type\" string");
  return it->get<std::string>();
}

const nlohmann::json& requiredField(const nlohmann::json& object, const char* key, const ConfigSource& source) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) throwConfigError(source.at(key), "is missing");
  return *it;
}

}  // namespace dmoe::hf
