// Small string helpers shared across the core (names of tensors, files; numbers in text).
// Header-only, torch-free. Use these rather than hand-counted compare() calls:
// a wrong length there fails silently (the adaptation router once never matched).
#pragma once
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace dmoe {

// A tensor shape as messages print it: "[2, 12, 382]".
inline std::string shapeText(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// v with `digits` decimals ("0.25"); "–" when v is not finite.
inline std::string fixedDecimals(double v, int digits) {
  if (!std::isfinite(v)) return "–";
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

// v with `digits` decimals and its sign, "+0.040", "-0.120"; "–" when v is not finite.
inline std::string signedDecimals(double v, int digits) {
  return (std::isfinite(v) && v >= 0 ? "+" : "") + fixedDecimals(v, digits);
}

// A p-value as tables show it: "< 0.001" below that, else 3 decimals; "–" when not finite.
inline std::string pValueText(double p) { return std::isfinite(p) && p < 0.001 ? "< 0.001" : fixedDecimals(p, 3); }

// The first `limit` code points of UTF-8 `text`, with "…" when it was longer; never cuts inside a character.
inline std::string firstCodePoints(std::string_view text, std::size_t limit) {
  std::size_t points = 0, i = 0;
  for (; i < text.size(); ++i)
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && points++ == limit) break;
  return i < text.size() ? std::string(text.substr(0, i)) + "…" : std::string(text);
}

// A count for people: "96", "812 K", "559 M", "1.24 B" (three significant digits).
inline std::string shortCount(double n, const char* const* units = nullptr) {
  static const char* const counts[] = {"", " K", " M", " B", " T"};
  if (!units) units = counts;
  int unit = 0;
  while (std::abs(n) >= 999.5 && unit < 4) n /= 1000, ++unit;  // 999.7 K is "1 M", not "1e+03 K"
  std::ostringstream s;
  if (unit == 0) s << std::llround(n) << units[0];
  else s << std::setprecision(3) << n << units[unit];
  return s.str();
}

// A size for people: "196 B", "1.99 kB", "3.4 MB", "12.1 GB" (decimal units).
inline std::string shortBytes(double bytes) {
  static const char* const units[] = {" B", " kB", " MB", " GB", " TB"};
  return shortCount(bytes, units);
}

inline bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// `line` in pieces of at most `limit` bytes (limit ≥ 4, the longest UTF-8
// character): each cut after the last space within the limit, else at the last
// UTF-8 character boundary, never inside a character. A short line is one piece.
inline std::vector<std::string_view> splitLongLine(std::string_view line, std::size_t limit) {
  std::vector<std::string_view> pieces;
  while (line.size() > limit) {
    std::size_t cut = line.rfind(' ', limit - 1);
    if (cut == std::string_view::npos || cut == 0) {
      cut = limit;
      while (cut > 1 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
    } else {
      ++cut;  // the space stays at the end of its piece
    }
    pieces.push_back(line.substr(0, cut));
    line.remove_prefix(cut);
  }
  pieces.push_back(line);
  return pieces;
}

}  // namespace dmoe
