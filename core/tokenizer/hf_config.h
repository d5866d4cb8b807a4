// Shared helpers for reading the parts of a Hugging Face tokenizer.json:
// where a component comes from (file + JSON path) and the errors that name it.
// Not a parser of any component itself (see hf_normalizers.h, hf_bpe.h, ...).
//
// tokenizer.json is read with nlohmann::json, not dmoe::Json: the ordered
// variant inserts keys with a linear scan, quadratic on a 262k-entry vocab.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace dmoe::hf {

// Where a component sits: the file and its JSON path ("/pre_tokenizer/pretokenizers/1").
struct ConfigSource {
  std::filesystem::path file;
  std::string where;

  ConfigSource at(const std::string& key) const { return {file, where + "/" + key}; }
  ConfigSource at(std::size_t index) const { return at(std::to_string(index)); }
};

// InputError "<file> <where>: <message>".
[[noreturn]] void throwConfigError(const ConfigSource& source, const std::string& message);

// InputError naming the component kind, its type and the file, listing what is supported.
[[noreturn]] void throwUnsupported(const ConfigSource& source, const std::string& kind,
                                   const std::string& type, const std::string& supported);

// The "type" string of a component object (InputError when missing).
std::string componentType(const nlohmann::json& component, const ConfigSource& source);

// object[key] as T; `fallback` when absent or null; InputError when of another type.
template <typename T>
T optionalField(const nlohmann::json& object, const char* key, T fallback, const ConfigSource& source) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throwConfigError(source.at(key), "has the wrong type (" + std::string(it->type_name()) + ")");
  }
}

// object[key], which must be present and not null.
const nlohmann::json& requiredField(const nlohmann::json& object, const char* key, const ConfigSource& source);

// requiredField as T; InputError naming the key when it is of another type.
template <typename T>
T requiredValue(const nlohmann::json& object, const char* key, const ConfigSource& source) {
  const nlohmann::json& value = requiredField(object, key, source);
  try {
    return value.get<T>();
  } catch (const nlohmann::json::exception&) {
    throwConfigError(source.at(key), "has the wrong type (" + std::string(value.type_name()) + ")");
  }
}

}  // namespace dmoe::hf
