// Small string helpers shared across the core (names of tensors, files; numbers in text).
// Header-only, torch-free. Use these rather than hand-counted compare() calls:
// a wrong length there fails silently (the adaptation router once never matched).
#pragma once
#include <cmath>
#include <iomanip>
#include <sstream>
#include <string>
#include <string_view>

namespace dmoe {

// v with `digits` decimals ("0.25"); "–" when v is not finite.
inline std::string fixedDecimals(double v, int digits) {
  if (!std::isfinite(v)) return "–";
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

inline bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace dmoe
