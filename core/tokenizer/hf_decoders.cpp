// The tokenizer.json decoders (see hf_decoders.h). Byte sequences that are
// not valid UTF-8 decode to U+FFFD, as the reference's TextDecoder does.
#include "tokenizer/hf_decoders.h"

#include <cstdio>

#include "tokenizer/hf_byte_level.h"
#include "tokenizer/hf_regex.h"
#include "tokenizer/hf_utf8.h"

namespace dmoe::hf {

namespace {

class ByteLevel final : public Decoder {
 public:
  explicit ByteLevel(AddedContents added) : added_(std::move(added)) {}
  void decodeChain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    bool pending = false;
    auto flush = [&] {
      if (pending) out.push_back(decodeUtf8Lossy(bytes));
      bytes.clear();
      pending = false;
    };
    for (const std::string& token : tokens) {
      if (added_ && added_->count(token)) {
        flush();
        out.push_back(token);
      } else {
        byteLevelDecodeAppend(token, bytes);
        pending = true;
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  AddedContents added_;
};

class ByteFallback final : public Decoder {
 public:
  void decodeChain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    for (std::string& token : tokens) {
      unsigned value = 0;
      bool isByte = token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>' &&
                    std::sscanf(token.c_str() + 3, "%2X", &value) == 1;
      if (isByte) {
        bytes.push_back(static_cast<char>(value));
        continue;
      }
      if (!bytes.empty()) out.push_back(decodeUtf8Lossy(bytes));
      bytes.clear();
      out.push_back(std::move(token));
    }
    if (!bytes.empty()) out.push_back(decodeUtf8Lossy(bytes));
    tokens = std::move(out);
  }
};

class Fuse final : public Decoder {
 public:
  void decodeChain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class Strip final : public Decoder {
 public:
  Strip(const nlohmann::json& config, const ConfigSource& source)
      : content_(optionalField<std::string>(config, "content", " ", source)),
        start_(optionalField<std::size_t>(config, "start", 0, source)),
        stop_(optionalField<std::size_t>(config, "stop", 0, source)) {
    if (content_.empty()) throwConfigError(source.at("content"), "expected one character");
  }
  void decodeChain(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) {
      std::size_t begin = 0, end = token.size();
      for (std::size_t i = 0; i < start_ && token.compare(begin, content_.size(), content_) == 0; ++i)
        begin += content_.size();
      for (std::size_t i = 0; i < stop_ && end >= begin + content_.size() &&
                              token.compare(end - content_.size(), content_.size(), content_) == 0;
           ++i)
        end -= content_.size();
      token = token.substr(begin, end - begin);
    }
  }

 private:
  std::string content_;
  std::size_t start_, stop_;
};

class Replace final : public Decoder {
 public:
  Replace(const nlohmann::json& config, const ConfigSource& source)
      : regex_(hfPattern(requiredField(config, "pattern", source), source.at("pattern")), source.at("pattern")),
        content_(optionalField<std::string>(config, "content", "", source)) {}
  void decodeChain(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) token = regex_.replaceAll(token, content_);
  }

 private:
  Regex regex_;
  std::string content_;
};

class Metaspace final : public Decoder {
 public:
  Metaspace(const nlohmann::json& config, const ConfigSource& source)
      : replacement_(optionalField<std::string>(config, "replacement", "\xE2\x96\x81", source)) {
    bool addPrefixSpace = optionalField<bool>(config, "add_prefix_space", true, source);
    stripFirstSpace_ = addPrefixSpace && optionalField<std::string>(config, "prepend_scheme", "always", source) != "never";
  }
  void decodeChain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string text;
      const std::string& token = tokens[i];
      for (std::size_t at = 0; at < token.size();) {
        if (token.compare(at, replacement_.size(), replacement_) == 0) {
          text.push_back(' ');
          at += replacement_.size();
        } else {
          text.push_back(token[at++]);
        }
      }
      if (i == 0 && stripFirstSpace_ && !text.empty() && text[0] == ' ') text.erase(0, 1);
      tokens[i] = std::move(text);
    }
  }

 private:
  std::string replacement_;
  bool stripFirstSpace_;
};

class Sequence final : public Decoder {
 public:
  Sequence(const nlohmann::json& config, const ConfigSource& source, const AddedContents& added) {
    const auto& list = requiredField(config, "decoders", source);
    if (!list.is_array()) throwConfigError(source.at("decoders"), "expected an array");
    for (std::size_t i = 0; i < list.size(); ++i)
      if (auto d = makeDecoder(list[i], source.at("decoders").at(i), added)) steps_.push_back(std::move(d));
  }
  void decodeChain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->decodeChain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

}  // namespace

std::unique_ptr<Decoder> makeDecoder(const nlohmann::json& config, const ConfigSource& source,
                                     const AddedContents& added) {
  if (config.is_null()) return nullptr;
  const std::string type = componentType(config, source);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>(added);
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") return std::make_unique<Strip>(config, source);
  if (type == "Replace") return std::make_unique<Replace>(config, source);
  if (type == "Metaspace") return std::make_unique<Metaspace>(config, source);
  if (type == "Sequence") return std::make_unique<Sequence>(config, source, added);
  throwUnsupported(source, "decoder", type, "ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, Sequence");
}

}  // namespace dmoe::hf
