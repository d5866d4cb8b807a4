// The JSON type used across the core: ordered, so files we rewrite keep the
// user's key order, and events print "event" first; and the one way JSON is
// written (dumpJson), which never turns a number into null.
#pragma once
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>
#include <nlohmann/json.hpp>

namespace dmoe {
using Json = nlohmann::ordered_json;

// A number, or null where there is none (NaN, ±inf): how the result files write missing values.
inline Json numberOrNull(double v) { return std::isfinite(v) ? Json(v) : Json(); }

// An object key as one token of a JSON pointer (RFC 6901: "~" → "~0", "/" → "~1").
inline std::string jsonPointerToken(const std::string& key) {
  std::string out;
  for (char c : key) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return out;
}

// The JSON pointer ("/values/loss", "" for `j` itself) of the first number in
// `j` that is NaN or ±inf, in document order; nullopt when every number is finite.
inline std::optional<std::string> nonFiniteNumberPointer(const Json& j) {
  if (j.is_number_float()) return std::isfinite(j.get<double>()) ? std::nullopt : std::optional<std::string>("");
  if (!j.is_structured()) return std::nullopt;
  std::size_t index = 0;
  for (auto it = j.begin(); it != j.end(); ++it, ++index) {
    if (auto inner = nonFiniteNumberPointer(it.value())) {
      return "/" + (j.is_object() ? jsonPointerToken(it.key()) : std::to_string(index)) + *inner;
    }
  }
  return std::nullopt;
}

// "nan", "inf" or "-inf": how messages name a number that is not finite (JSON would say null).
inline const char* nonFiniteText(double v) { return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"; }

// Throws std::runtime_error naming the JSON pointer and value of a number in
// `j` that is NaN or ±inf: nlohmann writes those as null, which a reader
// takes for "no value" or fails on. A null put there on purpose (numberOrNull) passes.
inline void requireFiniteNumbers(const Json& j) {
  const auto pointer = nonFiniteNumberPointer(j);
  if (!pointer) return;
  const double v = j.at(Json::json_pointer(*pointer)).get<double>();
  throw std::runtime_error("JSON output: the number at " + (pointer->empty() ? std::string("/") : *pointer) + " is " +
                           nonFiniteText(v) + "; a number that is not finite is never written (it would read as null)");
}

// j.dump(indent, ' ', false, handler) after requireFiniteNumbers: how every
// JSON file and event line the workbench writes is made.
inline std::string dumpJson(const Json& j, int indent = -1,
                            Json::error_handler_t handler = Json::error_handler_t::strict) {
  requireFiniteNumbers(j);
  return j.dump(indent, ' ', false, handler);
}
}  // namespace dmoe
