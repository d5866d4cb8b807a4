// buildTokenCache: two streaming passes per language (count documents for the
// slices, then encode), shards written atomically; see token_cache.h.
#include "corpus/token_cache.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "corpus/data_slices.h"
#include "corpus/jsonl_reader.h"
#include "corpus/token_shard.h"
#include "runtime/cancellation.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/owned_paths.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

constexpr const char* kManifestFormat = "dmoe-tokens/2";  // 2: pretrain / continual / heldout
constexpr Slice kSlices[] = {Slice::pretrain, Slice::continual, Slice::heldout};

// One split's .bin and .idx, streamed.
class ShardWriter {
 public:
  explicit ShardWriter(const fs::path& binFile) : file_(binFile), bin_(binFile), idx_(tokenIndexFile(binFile)) {
    writeOffset();
  }

  void add(const std::vector<std::uint32_t>& ids) {
    buffer_.resize(ids.size() * 4);
    for (std::size_t i = 0; i < ids.size(); ++i)
      for (int b = 0; b < 4; ++b) buffer_[i * 4 + b] = static_cast<char>((ids[i] >> (8 * b)) & 0xff);
    bin_.stream().write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    counts_.tokens += static_cast<std::int64_t>(ids.size());
    ++counts_.documents;
    writeOffset();
  }

  TokenSplitCounts commit() {
    if (!bin_.stream() || !idx_.stream()) throw std::runtime_error("cannot write the token shard " + file_.string());
    bin_.commit();
    idx_.commit();
    return counts_;
  }

 private:
  void writeOffset() {
    char bytes[8];
    const auto offset = static_cast<std::uint64_t>(counts_.tokens);
    for (int b = 0; b < 8; ++b) bytes[b] = static_cast<char>((offset >> (8 * b)) & 0xff);
    idx_.stream().write(bytes, 8);
  }

  fs::path file_;
  AtomicFileWriter bin_, idx_;
  TokenSplitCounts counts_;
  std::vector<char> buffer_;
};

Json inputsOf(const Project& project, const Tokenizer& tokenizer, const std::string& languageId) {
  const HeldoutSettings& h = project.corpus.heldout;
  const PretrainSliceSettings& p = project.corpus.pretrain;
  const fs::path corpusFile = project.corpusFile(languageId);
  Json inputs = {{"format", kManifestFormat},
                 {"tokenizer", {{"kind", tokenizer.kind()}, {"fingerprint", tokenizer.fingerprint()}}},
                 {"corpus", {{"file", corpusFile.filename().string()},
                             {"hash", Hasher().addFile(corpusFile).hex()},
                             {"text_key", project.corpus.text_key}}},
                 {"heldout", {{"fraction", h.fraction}, {"count", h.count}, {"min_documents", h.min_documents},
                              {"seed", h.seed}}}};
  inputs["pretrain"] = project.hasPretrainSlice(languageId)
                           ? Json{{"fraction", p.fraction}, {"count", p.count}, {"seed", p.seed}}
                           : Json(nullptr);
  return inputs;
}

Json countsJson(const TokenSplitCounts& c) { return {{"documents", c.documents}, {"tokens", c.tokens}}; }

TokenSplitCounts countsFrom(const Json& j) {
  return {j.at("documents").get<std::int64_t>(), j.at("tokens").get<std::int64_t>()};
}

Json countsTable(const LanguageTokenCounts& c) {
  return {{"pretrain", countsJson(c.pretrain)}, {"continual", countsJson(c.continual)}, {"heldout", countsJson(c.heldout)}};
}

TokenSplitCounts& countsOf(LanguageTokenCounts& c, Slice slice) {
  return slice == Slice::pretrain ? c.pretrain : slice == Slice::continual ? c.continual : c.heldout;
}

std::optional<Json> readManifest(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  try {
    return readJsonFile(file);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The counts of a valid manifest: same inputs, and the files there with the
// sizes its counts imply. nullopt means rebuild.
std::optional<LanguageTokenCounts> currentCounts(const Project& project, const std::string& languageId,
                                                 const Json& inputs) {
  std::optional<Json> manifest = readManifest(tokenCacheDir(project, languageId) / "manifest.json");
  if (!manifest || manifest->value("inputs", Json()) != inputs) return std::nullopt;
  LanguageTokenCounts counts{languageId, {}, {}, {}, false};
  try {
    for (Slice slice : kSlices) countsOf(counts, slice) = countsFrom(manifest->at("counts").at(sliceName(slice)));
  } catch (const Json::exception&) {
    return std::nullopt;
  }
  for (Slice slice : kSlices) {
    const TokenSplitCounts& c = countsOf(counts, slice);
    const fs::path bin = tokenShardFile(project, languageId, sliceName(slice));
    std::error_code ec1, ec2;
    const auto binSize = fs::file_size(bin, ec1), idxSize = fs::file_size(tokenIndexFile(bin), ec2);
    if (ec1 || ec2 || binSize != static_cast<std::uintmax_t>(c.tokens) * 4 ||
        idxSize != static_cast<std::uintmax_t>(c.documents + 1) * 8)
      return std::nullopt;
  }
  return counts;
}

LanguageTokenCounts buildLanguage(const Project& project, const Tokenizer& tokenizer, const std::string& languageId,
                                  const Json& inputs, Reporter& reporter) {
  const fs::path dir = tokenCacheDir(project, languageId), corpusFile = project.corpusFile(languageId);
  if (!isMade(dir)) markMade(dir, "tokens");  // inside the claimed runs folder: the workbench's
  removeMade(dir / "manifest.json");

  std::int64_t total = 0;
  {
    JsonlReader counter(corpusFile, project.corpus.text_key);
    Document document;
    while (counter.next(document)) ++total;
    if (total == 0)
      throw InputError(corpusFile.string() + ": no document" +
                       (counter.issues().empty() ? std::string(" (the file is empty)")
                                                 : " (all " + std::to_string(counter.issueCount()) +
                                                       " lines are bad; first: " + counter.issues().front().where() +
                                                       ": " + counter.issues().front().reason + ")") +
                       ": language " + languageId + " has nothing to train or evaluate on");
  }
  const std::vector<Slice> slices =
      documentSlices(total, project.corpus, languageId, project.hasPretrainSlice(languageId));

  ShardWriter pretrain(tokenShardFile(project, languageId, sliceName(Slice::pretrain))),
      continual(tokenShardFile(project, languageId, sliceName(Slice::continual))),
      held(tokenShardFile(project, languageId, sliceName(Slice::heldout)));
  JsonlReader reader(corpusFile, project.corpus.text_key);
  Document document;
  std::vector<TokenId> encoded;
  std::vector<std::uint32_t> ids;
  const std::int64_t every = std::max<std::int64_t>(1, total / 100);
  const TokenId bos = tokenizer.bosId(), eos = tokenizer.eosId();
  while (reader.next(document)) {
    encoded.clear();
    tokenizer.encodeInPieces(document.text, encoded);
    ids.clear();
    if (bos >= 0) ids.push_back(static_cast<std::uint32_t>(bos));
    for (TokenId id : encoded) ids.push_back(static_cast<std::uint32_t>(id));
    if (eos >= 0) ids.push_back(static_cast<std::uint32_t>(eos));
    if (static_cast<std::size_t>(document.index) >= slices.size())
      throw InputError(reader.file().string() + " changed while being read; run again");
    const Slice slice = slices[static_cast<std::size_t>(document.index)];
    (slice == Slice::pretrain ? pretrain : slice == Slice::continual ? continual : held).add(ids);
    if ((document.index + 1) % every == 0 || document.index + 1 == total)
      reporter.progress(document.index + 1, total, "documents");
  }
  if (!reader.issues().empty())
    reporter.warning(std::to_string(reader.issueCount()) + " bad lines skipped (first: " +
                         reader.issues().front().reason + ")",
                     reader.issues().front().where());

  LanguageTokenCounts counts{languageId, pretrain.commit(), continual.commit(), held.commit(), true};
  Json manifest = {{"inputs", inputs},
                   {"layout", "uint32 little-endian ids; document = [BOS] + text + [EOS]; .idx = uint64 offsets"},
                   {"bos_id", bos},
                   {"eos_id", eos},
                   {"counts", countsTable(counts)}};
  writeFileAtomic(dir / "manifest.json", dumpJson(manifest, 2) + "\n");
  return counts;
}

}  // namespace

fs::path tokenCacheDir(const Project& project, const std::string& languageId) {
  return project.layout().tokensDir(languageId);
}

fs::path tokenShardFile(const Project& project, const std::string& languageId, std::string_view split) {
  return tokenCacheDir(project, languageId) / (std::string(split) + ".bin");
}

std::optional<LanguageTokenCounts> currentTokenCounts(const Project& project, const Tokenizer& tokenizer,
                                                      const std::string& languageId) {
  const fs::path corpusFile = project.corpusFile(languageId);
  if (!fs::is_regular_file(corpusFile)) return std::nullopt;
  return currentCounts(project, languageId, inputsOf(project, tokenizer, languageId));
}

std::vector<LanguageTokenCounts> buildTokenCache(const Project& project, const Tokenizer& tokenizer,
                                                 Reporter& reporter, bool force) {
  reporter.started({{"tokenizer", tokenizer.fingerprint()}});
  std::vector<LanguageTokenCounts> all;
  Json table = Json::object();
  for (const Language& language : project.allLanguages()) {
    throwIfCancelled();
    Reporter languageReporter = reporter.forStage(reporter.stage() + "/" + language.id);
    const Json inputs = inputsOf(project, tokenizer, language.id);
    std::optional<LanguageTokenCounts> kept;
    if (!force) kept = currentCounts(project, language.id, inputs);
    if (kept) {
      reporter.log(language.id + ": up to date");
      all.push_back(*kept);
    } else {
      all.push_back(buildLanguage(project, tokenizer, language.id, inputs, languageReporter));
      for (Slice slice : kSlices) {
        const fs::path bin = tokenShardFile(project, language.id, sliceName(slice));
        reporter.artifact(bin, "tokens");
        reporter.artifact(tokenIndexFile(bin), "tokens-index");
      }
      reporter.artifact(tokenCacheDir(project, language.id) / "manifest.json", "manifest");
    }
    const LanguageTokenCounts& c = all.back();
    table[c.language] = countsTable(c);
    table[c.language]["rebuilt"] = c.rebuilt;
  }
  reporter.result("tokens", table);
  bool anyRebuilt = false;
  for (const LanguageTokenCounts& c : all) anyRebuilt = anyRebuilt || c.rebuilt;
  reporter.finished(anyRebuilt ? "done" : "skipped");
  return all;
}

}  // namespace dmoe
