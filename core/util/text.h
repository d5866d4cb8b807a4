// Small string predicates shared across the core (names of tensors, files).
// Header-only, torch-free. Use these rather than hand-counted compare() calls:
// a wrong length there fails silently (the adaptation router once never matched).
#pragma once
#include <string_view>

namespace dmoe {

inline bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace dmoe
