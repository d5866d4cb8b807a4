// The tokenizer.json pre-tokenizers (see hf_pre_tokenizers.h). Split follows
// the `tokenizers` library's delimiter behaviours (the transformers.js port
// treats all but "Removed" as "Isolated"; they agree on the files we test).
#include "tokenizer/hf_pre_tokenizers.h"

#include <algorithm>

#include "tokenizer/hf_byte_level.h"
#include "tokenizer/hf_regex.h"

namespace dmoe::hf {

namespace {

struct Span {
  std::size_t begin, end;
  bool delimiter;
};

enum class Behaviour { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behaviour parseBehaviour(const std::string& name, const ConfigSource& source) {
  if (name == "Removed") return Behaviour::Removed;
  if (name == "Isolated") return Behaviour::Isolated;
  if (name == "MergedWithPrevious") return Behaviour::MergedWithPrevious;
  if (name == "MergedWithNext") return Behaviour::MergedWithNext;
  if (name == "Contiguous") return Behaviour::Contiguous;
  throwConfigError(source, "unsupported split behavior \"" + name +
                               "\" (supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
}

// Pieces of `text` cut at the regex matches, delimiters handled per `behaviour`.
void splitOnMatches(const std::string& text, const Regex& regex, bool invert, Behaviour behaviour,
                    std::vector<std::string>& out) {
  std::vector<Span> spans;
  std::size_t last = 0;
  for (auto [begin, end] : regex.findAll(text)) {
    if (begin > last) spans.push_back({last, begin, invert});
    spans.push_back({begin, end, !invert});
    last = end;
  }
  if (last < text.size()) spans.push_back({last, text.size(), invert});

  std::vector<Span> merged;
  switch (behaviour) {
    case Behaviour::Removed:
      for (const Span& s : spans)
        if (!s.delimiter) merged.push_back(s);
      break;
    case Behaviour::Isolated:
      merged = spans;
      break;
    case Behaviour::MergedWithPrevious: {
      bool previousDelimiter = false;
      for (const Span& s : spans) {
        if (s.delimiter && !previousDelimiter && !merged.empty())
          merged.back().end = s.end;
        else
          merged.push_back(s);
        previousDelimiter = s.delimiter;
      }
      break;
    }
    case Behaviour::MergedWithNext: {
      bool nextDelimiter = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->delimiter && !nextDelimiter && !merged.empty())
          merged.back().begin = it->begin;
        else
          merged.push_back(*it);
        nextDelimiter = it->delimiter;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    }
    case Behaviour::Contiguous:
      for (std::size_t i = 0; i < spans.size(); ++i) {
        if (i > 0 && spans[i].delimiter == spans[i - 1].delimiter && !merged.empty())
          merged.back().end = spans[i].end;
        else
          merged.push_back(spans[i]);
      }
      break;
  }
  for (const Span& s : merged)
    if (s.end > s.begin) out.push_back(text.substr(s.begin, s.end - s.begin));
}

class Split final : public PreTokenizer {
 public:
  Split(const nlohmann::json& config, const ConfigSource& source)
      : regex_(hfPattern(requiredField(config, "pattern", source), source.at("pattern")), source.at("pattern")),
        invert_(optionalField<bool>(config, "invert", false, source)),
        behaviour_(parseBehaviour(optionalField<std::string>(config, "behavior", "Isolated", source),
                                  source.at("behavior"))) {}

  void preTokenize(std::vector<std::string>& pieces, std::size_t) const override {
    std::vector<std::string> out;
    for (const std::string& piece : pieces) splitOnMatches(piece, regex_, invert_, behaviour_, out);
    pieces = std::move(out);
  }

 private:
  Regex regex_;
  bool invert_;
  Behaviour behaviour_;
};

// GPT-2's own word pattern, used when ByteLevel has use_regex (the default).
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(const nlohmann::json& config, const ConfigSource& source)
      : addPrefixSpace_(optionalField<bool>(config, "add_prefix_space", false, source)) {
    if (optionalField<bool>(config, "use_regex", true, source)) regex_ = std::make_unique<Regex>(kGpt2Pattern, source);
  }

  void preTokenize(std::vector<std::string>& pieces, std::size_t) const override {
    std::vector<std::string> out;
    for (std::string& piece : pieces) {
      if (addPrefixSpace_ && piece.rfind(' ', 0) != 0) piece.insert(0, " ");
      if (!regex_) {
        out.push_back(byteLevelEncode(piece));
        continue;
      }
      for (auto [begin, end] : regex_->findAll(piece))
        out.push_back(byteLevelEncode(std::string_view(piece).substr(begin, end - begin)));
    }
    pieces = std::move(out);
  }

 private:
  bool addPrefixSpace_;
  std::unique_ptr<Regex> regex_;
};

class Metaspace final : public PreTokenizer {
 public:
  Metaspace(const nlohmann::json& config, const ConfigSource& source)
      : replacement_(optionalField<std::string>(config, "replacement", "\xE2\x96\x81", source)),
        split_(optionalField<bool>(config, "split", true, source)),
        splitter_(hfPattern(nlohmann::json{{"String", replacement_}}, source), source) {
    // Files before tokenizers 0.19 say add_prefix_space; later ones prepend_scheme.
    bool addPrefixSpace = optionalField<bool>(config, "add_prefix_space", true, source);
    scheme_ = optionalField<std::string>(config, "prepend_scheme", addPrefixSpace ? "always" : "never", source);
    if (!addPrefixSpace) scheme_ = "never";
    if (scheme_ != "always" && scheme_ != "first" && scheme_ != "never")
      throwConfigError(source.at("prepend_scheme"), "expected \"always\", \"first\" or \"never\"");
  }

  void preTokenize(std::vector<std::string>& pieces, std::size_t sectionIndex) const override {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      std::string text;
      for (char c : pieces[i]) {
        if (c == ' ')
          text += replacement_;
        else
          text.push_back(c);
      }
      bool first = sectionIndex == 0 && i == 0;
      if ((scheme_ == "always" || (scheme_ == "first" && first)) && text.rfind(replacement_, 0) != 0)
        text.insert(0, replacement_);
      if (split_)
        splitOnMatches(text, splitter_, false, Behaviour::MergedWithNext, out);
      else
        out.push_back(std::move(text));
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_;
  bool split_;
  Regex splitter_;
  std::string scheme_;
};

class Sequence final : public PreTokenizer {
 public:
  Sequence(const nlohmann::json& config, const ConfigSource& source) {
    const auto& list = requiredField(config, "pretokenizers", source);
    if (!list.is_array()) throwConfigError(source.at("pretokenizers"), "expected an array");
    for (std::size_t i = 0; i < list.size(); ++i)
      if (auto p = makePreTokenizer(list[i], source.at("pretokenizers").at(i))) steps_.push_back(std::move(p));
  }
  void preTokenize(std::vector<std::string>& pieces, std::size_t sectionIndex) const override {
    for (const auto& step : steps_) step->preTokenize(pieces, sectionIndex);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

}  // namespace

std::unique_ptr<PreTokenizer> makePreTokenizer(const nlohmann::json& config, const ConfigSource& source) {
  if (config.is_null()) return nullptr;
  const std::string type = componentType(config, source);
  if (type == "Split") return std::make_unique<Split>(config, source);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>(config, source);
  if (type == "Metaspace") return std::make_unique<Metaspace>(config, source);
  if (type == "Sequence") return std::make_unique<Sequence>(config, source);
  throwUnsupported(source, "pre-tokenizer", type, "Split, ByteLevel, Metaspace, Sequence");
}

}  // namespace dmoe::hf
