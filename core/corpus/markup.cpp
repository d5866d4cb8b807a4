// The shared markup scanner (see markup.h).
#include "corpus/markup.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

namespace dmoe {

namespace {

bool isAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void appendUtf8(std::string& out, char32_t c) {
  if (c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;  // not a character: U+FFFD
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Position of `needle` (lower-case ASCII) in `text` from `from`, ignoring ASCII case; npos if absent.
std::size_t findCaseInsensitive(std::string_view text, const std::string& needle, std::size_t from) {
  auto it = std::search(text.begin() + static_cast<std::ptrdiff_t>(std::min(from, text.size())), text.end(),
                        needle.begin(), needle.end(), [](char a, char b) {
                          return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
                        });
  return it == text.end() ? std::string_view::npos : static_cast<std::size_t>(it - text.begin());
}

}  // namespace

std::string decodeEntities(std::string_view text) {
  static const std::pair<std::string_view, char32_t> named[] = {
      {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xA0}};
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    std::size_t semicolon = text[i] == '&' ? text.find(';', i) : std::string_view::npos;
    if (semicolon == std::string_view::npos || semicolon - i > 12) {
      out += text[i++];
      continue;
    }
    std::string_view name = text.substr(i + 1, semicolon - i - 1);
    bool decoded = false;
    if (name.size() >= 2 && name[0] == '#') {
      bool hex = name[1] == 'x' || name[1] == 'X';
      std::string digits(name.substr(hex ? 2 : 1));
      char* end = nullptr;
      unsigned long value = digits.empty() ? 0 : std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (!digits.empty() && *end == '\0') {
        appendUtf8(out, value > 0x10FFFF ? 0xFFFD : static_cast<char32_t>(value));
        decoded = true;
      }
    } else {
      for (const auto& [entity, c] : named)
        if (name == entity) {
          appendUtf8(out, c);
          decoded = true;
        }
    }
    if (decoded) i = semicolon + 1;
    else out += text[i++];
  }
  return out;
}

std::string collapseWhitespace(std::string_view text) {
  std::string out;
  bool pendingSpace = false;
  for (char c : text) {
    if (isAsciiSpace(c)) {
      pendingSpace = !out.empty();
      continue;
    }
    if (pendingSpace) out += ' ';
    pendingSpace = false;
    out += c;
  }
  return out;
}

std::string markupAttribute(std::string_view attrs, std::string_view name) {
  std::size_t i = 0;
  while (i < attrs.size()) {
    while (i < attrs.size() && (isAsciiSpace(attrs[i]) || attrs[i] == '/')) ++i;
    std::size_t start = i;
    while (i < attrs.size() && !isAsciiSpace(attrs[i]) && attrs[i] != '=' && attrs[i] != '/') ++i;
    std::string key = lowercase(attrs.substr(start, i - start));
    if (key.empty()) break;
    while (i < attrs.size() && isAsciiSpace(attrs[i])) ++i;
    std::string_view value;
    if (i < attrs.size() && attrs[i] == '=') {
      ++i;
      while (i < attrs.size() && isAsciiSpace(attrs[i])) ++i;
      if (i < attrs.size() && (attrs[i] == '"' || attrs[i] == '\'')) {
        char quote = attrs[i++];
        std::size_t end = std::min(attrs.find(quote, i), attrs.size());
        value = attrs.substr(i, end - i);
        i = end + 1;
      } else {
        start = i;
        while (i < attrs.size() && !isAsciiSpace(attrs[i])) ++i;
        value = attrs.substr(start, i - start);
      }
    }
    if (key == name) return decodeEntities(value);
  }
  return {};
}

void scanMarkup(std::string_view html, const std::function<void(std::string_view)>& onText,
                const std::function<void(const MarkupTag&)>& onTag) {
  std::size_t i = 0;
  while (i < html.size()) {
    std::size_t open = html.find('<', i);
    if (open == std::string_view::npos) open = html.size();
    if (open > i) onText(html.substr(i, open - i));
    if (open == html.size()) return;
    if (html.compare(open, 4, "<!--") == 0) {
      std::size_t end = html.find("-->", open + 4);
      i = end == std::string_view::npos ? html.size() : end + 3;
      continue;
    }
    std::size_t close = html.find('>', open);
    if (close == std::string_view::npos) return;
    std::string_view inside = html.substr(open + 1, close - open - 1);
    i = close + 1;
    if (inside.empty() || inside[0] == '!' || inside[0] == '?') continue;
    MarkupTag tag;
    tag.closing = inside[0] == '/';
    if (tag.closing) inside.remove_prefix(1);
    std::size_t nameEnd = 0;
    while (nameEnd < inside.size() && !isAsciiSpace(inside[nameEnd]) && inside[nameEnd] != '/') ++nameEnd;
    tag.name = lowercase(inside.substr(0, nameEnd));
    tag.attributes = inside.substr(nameEnd);
    if (!tag.closing && (tag.name == "script" || tag.name == "style")) {
      std::size_t end = findCaseInsensitive(html, "</" + tag.name, i);
      i = end == std::string_view::npos ? html.size() : end;
      continue;
    }
    onTag(tag);
  }
}

bool isHeadingTag(const std::string& name) { return name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6'; }

}  // namespace dmoe
