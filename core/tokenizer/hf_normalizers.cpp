// The tokenizer.json normalizers (see hf_normalizers.h). Unicode
// normalization forms come from ICU.
#include "tokenizer/hf_normalizers.h"

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <vector>

#include "tokenizer/hf_regex.h"
#include "tokenizer/hf_utf8.h"

namespace dmoe::hf {

namespace {

class UnicodeForm final : public Normalizer {
 public:
  UnicodeForm(const std::string& form, const ConfigSource& source) {
    UErrorCode status = U_ZERO_ERROR;
    if (form == "NFC") instance_ = unorm2_getNFCInstance(&status);
    if (form == "NFD") instance_ = unorm2_getNFDInstance(&status);
    if (form == "NFKC") instance_ = unorm2_getNFKCInstance(&status);
    if (form == "NFKD") instance_ = unorm2_getNFKDInstance(&status);
    if (U_FAILURE(status) || !instance_) throwConfigError(source, "ICU has no " + form + " normalizer");
  }

  std::string normalize(std::string text) const override {
    bool ascii = true;
    for (unsigned char c : text) ascii = ascii && c < 0x80;
    if (ascii) return text;  // every form leaves ASCII as it is
    UErrorCode status = U_ZERO_ERROR;
    std::vector<UChar> utf16(text.size() + 1);
    int32_t utf16Length = 0;
    u_strFromUTF8(utf16.data(), static_cast<int32_t>(utf16.size()), &utf16Length, text.data(),
                  static_cast<int32_t>(text.size()), &status);
    if (U_FAILURE(status)) return text;
    if (unorm2_isNormalized(instance_, utf16.data(), utf16Length, &status) && U_SUCCESS(status)) return text;
    status = U_ZERO_ERROR;
    // Decompositions grow text by at most a small factor; retry once with the exact size.
    std::vector<UChar> normalized(static_cast<std::size_t>(utf16Length) * 4 + 16);
    int32_t normalizedLength = unorm2_normalize(instance_, utf16.data(), utf16Length, normalized.data(),
                                                static_cast<int32_t>(normalized.size()), &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) {
      status = U_ZERO_ERROR;
      normalized.resize(static_cast<std::size_t>(normalizedLength));
      normalizedLength = unorm2_normalize(instance_, utf16.data(), utf16Length, normalized.data(),
                                          static_cast<int32_t>(normalized.size()), &status);
    }
    if (U_FAILURE(status)) return text;
    std::string out(static_cast<std::size_t>(normalizedLength) * 3, '\0');
    int32_t outLength = 0;
    u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &outLength, normalized.data(), normalizedLength, &status);
    out.resize(static_cast<std::size_t>(outLength));
    return out;
  }

 private:
  const UNormalizer2* instance_ = nullptr;
};

class Replace final : public Normalizer {
 public:
  Replace(const nlohmann::json& config, const ConfigSource& source)
      : regex_(hfPattern(requiredField(config, "pattern", source), source.at("pattern")), source.at("pattern")),
        content_(optionalField<std::string>(config, "content", "", source)) {}
  std::string normalize(std::string text) const override { return regex_.replaceAll(text, content_); }

 private:
  Regex regex_;
  std::string content_;
};

class Prepend final : public Normalizer {
 public:
  Prepend(const nlohmann::json& config, const ConfigSource& source)
      : prefix_(optionalField<std::string>(config, "prepend", "", source)) {}
  std::string normalize(std::string text) const override { return text.empty() ? text : prefix_ + text; }

 private:
  std::string prefix_;
};

class Strip final : public Normalizer {
 public:
  Strip(const nlohmann::json& config, const ConfigSource& source)
      : left_(optionalField<bool>(config, "strip_left", false, source)),
        right_(optionalField<bool>(config, "strip_right", false, source)) {}
  std::string normalize(std::string text) const override {
    std::string_view view = text;
    if (left_) view = trimJsWhitespaceStart(view);
    if (right_) view = trimJsWhitespaceEnd(view);
    return std::string(view);
  }

 private:
  bool left_, right_;
};

class Sequence final : public Normalizer {
 public:
  Sequence(const nlohmann::json& config, const ConfigSource& source) {
    const auto& list = requiredField(config, "normalizers", source);
    if (!list.is_array()) throwConfigError(source.at("normalizers"), "expected an array");
    for (std::size_t i = 0; i < list.size(); ++i)
      if (auto n = makeNormalizer(list[i], source.at("normalizers").at(i))) steps_.push_back(std::move(n));
  }
  std::string normalize(std::string text) const override {
    for (const auto& step : steps_) text = step->normalize(std::move(text));
    return text;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> makeNormalizer(const nlohmann::json& config, const ConfigSource& source) {
  if (config.is_null()) return nullptr;
  const std::string type = componentType(config, source);
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") return std::make_unique<UnicodeForm>(type, source);
  if (type == "Replace") return std::make_unique<Replace>(config, source);
  if (type == "Prepend") return std::make_unique<Prepend>(config, source);
  if (type == "Strip") return std::make_unique<Strip>(config, source);
  if (type == "Sequence") return std::make_unique<Sequence>(config, source);
  throwUnsupported(source, "normalizer", type, "NFC, NFD, NFKC, NFKD, Replace, Prepend, Strip, Sequence");
}

}  // namespace dmoe::hf
