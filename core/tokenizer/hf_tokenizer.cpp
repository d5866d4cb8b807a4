// The tokenizer.json tokenizer: added tokens -> normalizer -> pre-tokenizer
// -> BPE -> post-processor; decoding through the decoder chain. Loading and
// the Tokenizer interface live here; each stage has its own file.
#include "tokenizer/hf_tokenizer.h"

#include <unordered_set>

#include "tokenizer/hf_added_tokens.h"
#include "tokenizer/hf_bpe.h"
#include "tokenizer/hf_config.h"
#include "tokenizer/hf_decoders.h"
#include "tokenizer/hf_normalizers.h"
#include "tokenizer/hf_post_processors.h"
#include "tokenizer/hf_pre_tokenizers.h"
#include "tokenizer/hf_utf8.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mapped_file.h"

namespace dmoe {

namespace {

namespace fs = std::filesystem;

nlohmann::json readJson(const fs::path& path) {
  MappedFile file(path);  // parsing from memory: several times faster than from a stream on a 30 MB vocabulary
  try {
    return nlohmann::json::parse(file.bytes().begin(), file.bytes().end());
  } catch (const nlohmann::json::exception& e) {  // a syntax error, or a number out of range (out_of_range 406)
    throw InputError(path.string() + ": not valid JSON: " + e.what());
  }
}

// tokenizer_config.json names a special token as a string or {"content": ...}.
std::string configTokenName(const nlohmann::json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  return {};
}

class HfTokenizer final : public Tokenizer {
 public:
  explicit HfTokenizer(const fs::path& file) {
    const nlohmann::json root = readJson(file);
    if (!root.is_object()) throw InputError(file.string() + ": expected a tokenizer.json object");
    const hf::ConfigSource source{file, ""};
    auto section = [&](const char* key) -> const nlohmann::json& {
      static const nlohmann::json null;
      auto it = root.find(key);
      return it == root.end() ? null : *it;
    };

    model_ = std::make_unique<hf::BpeModel>(hf::requiredField(root, "model", source), source.at("model"));
    added_ = std::make_unique<hf::AddedTokens>(section("added_tokens"), source.at("added_tokens"));
    auto addedContents = std::make_shared<std::unordered_set<std::string>>();
    for (const hf::AddedToken& t : added_->tokens()) {
      model_->addToken(t.content, t.id);
      addedContents->insert(t.content);
    }
    normalizer_ = hf::makeNormalizer(section("normalizer"), source.at("normalizer"));
    preTokenizer_ = hf::makePreTokenizer(section("pre_tokenizer"), source.at("pre_tokenizer"));
    postProcessor_ = hf::makePostProcessor(section("post_processor"), source.at("post_processor"),
                                           [this](const std::string& t) { return model_->tokenId(t); });
    decoder_ = hf::makeDecoder(section("decoder"), source.at("decoder"), addedContents);

    Hasher hasher;
    hasher.addFile(file);
    const fs::path configFile = file.parent_path() / "tokenizer_config.json";
    nlohmann::json config = nlohmann::json::object();
    if (fs::exists(configFile)) {
      config = readJson(configFile);
      hasher.add("tokenizer_config.json").addFile(configFile);
    }
    fingerprint_ = hasher.hex();
    auto idOf = [&](const char* key) -> TokenId {
      std::string name = configTokenName(config, key);
      if (name.empty()) return -1;
      return model_->tokenId(name).value_or(-1);
    };
    bosId_ = idOf("bos_token");
    if (bosId_ < 0 && !config.contains("bos_token") && postProcessor_)
      bosId_ = postProcessor_->leadingSpecial().value_or(-1);
    eosId_ = idOf("eos_token");
    padId_ = idOf("pad_token");
    unkId_ = idOf("unk_token");
    if (unkId_ < 0) unkId_ = model_->unkId();
  }

  std::vector<TokenId> encode(std::string_view text, bool addSpecialTokens) const override {
    const std::string valid = hf::decodeUtf8Lossy(text);
    std::vector<TokenId> ids;
    const std::vector<hf::Section> sections = added_->split(valid);
    for (std::size_t index = 0; index < sections.size(); ++index) {
      const hf::Section& s = sections[index];
      if (s.token) {
        ids.push_back(s.token->id);
        continue;
      }
      if (s.text.empty()) continue;
      std::string normalized(s.text);
      if (normalizer_) normalized = normalizer_->normalize(std::move(normalized));
      if (normalized.empty()) continue;
      std::vector<std::string> words{std::move(normalized)};
      if (preTokenizer_) preTokenizer_->preTokenize(words, index);
      model_->encode(words, ids);
    }
    if (postProcessor_) postProcessor_->process(ids, addSpecialTokens);
    return ids;
  }

  std::string decode(const std::vector<TokenId>& ids) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (TokenId id : ids) {
      const std::string* token = model_->token(id);
      if (!token) throw InputError("token id " + std::to_string(id) + " is not in the tokenizer's vocabulary");
      tokens.push_back(*token);
    }
    std::string text;
    if (decoder_) {
      decoder_->decodeChain(tokens);
      for (const std::string& t : tokens) text += t;
    } else {
      // No decoder: tokens joined with spaces, as the tokenizers library does.
      for (std::size_t i = 0; i < tokens.size(); ++i) text += (i ? " " : "") + tokens[i];
    }
    return text;
  }

  std::int64_t vocabSize() const override { return model_->size(); }
  std::string piece(TokenId id) const override {
    const std::string* token = model_->token(id);
    return token ? *token : std::string();
  }
  TokenId bosId() const override { return bosId_; }
  TokenId eosId() const override { return eosId_; }
  TokenId padId() const override { return padId_; }
  TokenId unkId() const override { return unkId_; }
  std::string kind() const override { return "tokenizer.json"; }
  std::string fingerprint() const override { return fingerprint_; }

 private:
  std::unique_ptr<hf::BpeModel> model_;
  std::unique_ptr<hf::AddedTokens> added_;
  std::unique_ptr<hf::Normalizer> normalizer_;
  std::unique_ptr<hf::PreTokenizer> preTokenizer_;
  std::unique_ptr<hf::PostProcessor> postProcessor_;
  std::unique_ptr<hf::Decoder> decoder_;
  std::string fingerprint_;
  TokenId bosId_ = -1, eosId_ = -1, padId_ = -1, unkId_ = -1;
};

}  // namespace

std::unique_ptr<Tokenizer> loadHfTokenizer(const std::filesystem::path& tokenizerJson) {
  try {
    return std::make_unique<HfTokenizer>(tokenizerJson);
  } catch (const nlohmann::json::exception& e) {  // a value no reader above checked the type of
    throw InputError(tokenizerJson.string() + ": a value of an unexpected type or range (" + e.what() + ")");
  }
}

}  // namespace dmoe
