// trainTokenizer and its language-balanced sample; see tokenizer_training.h.
#include "stages/tokenizer_training.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <string_view>
#include <thread>

#include "corpus/data_slices.h"
#include "corpus/jsonl_reader.h"
#include "tokenizer/sentencepiece_backend.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "util/atomic_file.h"
#include "util/owned_paths.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

std::int64_t countDocuments(const Project& project, const std::string& languageId) {
  JsonlReader reader(project.corpusFile(languageId), project.corpus.text_key);
  Document document;
  std::int64_t n = 0;
  while (reader.next(document)) ++n;
  return n;
}

// Reservoir sampling (Algorithm R) over the documents the base may see: the
// pretrain slice where the language has one (SPEC 1.0: the tokenizer is part
// of the base), else everything not held out (new languages, a checkpoint
// base). Driven by our own PRNG so the sample is the same on every machine.
LanguageSample sampleLanguage(const Project& project, const std::string& languageId) {
  const bool pretrainOnly = project.hasPretrainSlice(languageId);
  const std::vector<Slice> slices =
      documentSlices(countDocuments(project, languageId), project.corpus, languageId, pretrainOnly);
  const auto quota = static_cast<std::size_t>(project.tokenizer.sample_documents_per_language);
  SplitMix64 random(Hasher().add(static_cast<std::uint64_t>(project.tokenizer.seed)).add(languageId).value());

  std::vector<Document> reservoir;
  JsonlReader reader(project.corpusFile(languageId), project.corpus.text_key);
  Document document;
  std::uint64_t seen = 0;
  while (reader.next(document)) {
    if (static_cast<std::size_t>(document.index) >= slices.size())
      throw InputError(reader.file().string() + " changed while being read; run again");
    const Slice slice = slices[static_cast<std::size_t>(document.index)];
    if (slice == Slice::heldout || (pretrainOnly && slice != Slice::pretrain)) continue;
    if (reservoir.size() < quota) {
      reservoir.push_back(std::move(document));
    } else {
      std::uint64_t slot = random.next() % (seen + 1);
      if (slot < quota) reservoir[slot] = std::move(document);
    }
    ++seen;
  }
  std::sort(reservoir.begin(), reservoir.end(),
            [](const Document& a, const Document& b) { return a.index < b.index; });
  LanguageSample sample{languageId, static_cast<std::int64_t>(seen), {}};
  for (Document& d : reservoir) sample.documents.push_back(std::move(d.text));
  return sample;
}

// The longest line sentencepiece's trainer takes (its default is 4,192 bytes:
// long paragraphs are normal). Longer lines are split before it sees them:
// its "too long line" warning crashes it inside the private module.
constexpr std::size_t kMaxSentenceBytes = 16384;
// A sampled document contributes at most this much (cut after a space): one
// 50 MB web page must not make the trainer's memory (about 25× its input) explode.
constexpr std::size_t kMaxSampleDocumentBytes = std::size_t{1} << 20;

// Everything that shapes the model besides the sample; paths and thread count excluded.
std::map<std::string, std::string> trainerSettings(const TokenizerSettings& t) {
  char coverage[32];
  std::snprintf(coverage, sizeof coverage, "%.17g", t.character_coverage);
  return {
      {"model_type", t.model_type},
      {"vocab_size", std::to_string(t.vocab_size)},
      {"character_coverage", coverage},
      {"byte_fallback", t.byte_fallback ? "true" : "false"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "3"},
      {"hard_vocab_limit", "false"},
      {"split_digits", "true"},
      {"allow_whitespace_only_pieces", "false"},
      {"normalization_rule_name", "nmt_nfkc"},
      // Use every sampled sentence; accept long paragraphs (default 4192 bytes).
      {"input_sentence_size", "0"},
      {"max_sentence_length", std::to_string(kMaxSentenceBytes)},
  };
}

// `text` as sentencepiece input lines (its own line breaks split it), none
// over kMaxSentenceBytes, at most kMaxSampleDocumentBytes of it; counts the
// documents cut short and the documents and lines that had to be split.
struct SampleLines {
  std::string text;
  std::int64_t splitDocuments = 0, splitLines = 0, shortenedDocuments = 0;
};

void appendDocument(std::string_view document, SampleLines& out) {
  if (document.size() > kMaxSampleDocumentBytes) {
    document = splitLongLine(document.substr(0, kMaxSampleDocumentBytes + 1), kMaxSampleDocumentBytes).front();
    ++out.shortenedDocuments;
  }
  bool split = false;
  for (std::size_t start = 0; start <= document.size();) {
    std::size_t end = document.find('\n', start);
    if (end == std::string_view::npos) end = document.size();
    const std::vector<std::string_view> pieces = splitLongLine(document.substr(start, end - start), kMaxSentenceBytes);
    for (std::string_view piece : pieces) out.text.append(piece).push_back('\n');
    out.splitLines += static_cast<std::int64_t>(pieces.size()) - 1;
    split = split || pieces.size() > 1;
    start = end + 1;
  }
  if (split) ++out.splitDocuments;
}

// The sample one sentence per line (sentencepiece's input format), written to
// `out` when given; returns the hash of those bytes and what had to be split.
// Without `out` nothing is written: the up-to-date check needs the hash alone.
std::pair<std::string, SampleLines> sampleLines(const std::vector<LanguageSample>& sample, std::ostream* out) {
  Hasher hasher;
  SampleLines counts;
  for (const LanguageSample& language : sample)
    for (const std::string& text : language.documents) {
      counts.text.clear();
      appendDocument(text, counts);
      hasher.add(counts.text);
      if (out) *out << counts.text;
    }
  counts.text.clear();
  return {hasher.hex(), counts};
}

void writeSample(const std::vector<LanguageSample>& sample, const fs::path& file) {
  std::ofstream out(file, std::ios::binary);
  sampleLines(sample, &out);
  out.close();
  if (!out) throw std::runtime_error("cannot write the tokenizer training sample " + file.string() + ": " + std::strerror(errno));
}

// A scratch folder of this process beside the outputs (same file system, so
// renames are atomic; util/owned_paths.h names it), removed on exit.
struct ScratchDir {
  fs::path path;
  explicit ScratchDir(const fs::path& beside) : path(scratchPath(beside)) { fs::create_directories(path); }
  ~ScratchDir() {
    try {
      removeMade(path);  // this process's scratch: nothing else can pass its check
    } catch (const std::exception&) {
      // a leftover is removed by the next command that takes the runs folder's lock
    }
  }
};

Json readManifest(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return Json();
  try {
    return readJsonFile(file);
  } catch (const std::exception&) {
    return Json();  // unreadable manifest: retrain
  }
}

bool upToDate(const Json& manifest, const Json& settings, const std::string& sampleHash, const fs::path& model) {
  std::error_code ec;
  if (!manifest.is_object() || !fs::is_regular_file(model, ec)) return false;
  return manifest.value("trainer", Json()) == settings &&
         manifest.value("sample", Json::object()).value("hash", "") == sampleHash &&
         manifest.value("model", Json::object()).value("hash", "") == Hasher().addFile(model).hex();
}

}  // namespace

std::vector<LanguageSample> drawTokenizerSample(const Project& project, Reporter& reporter) {
  const std::vector<Language> languages = project.allLanguages();
  std::vector<LanguageSample> sample;
  for (std::size_t i = 0; i < languages.size(); ++i) {
    sample.push_back(sampleLanguage(project, languages[i].id));
    reporter.progress(static_cast<std::int64_t>(i + 1), static_cast<std::int64_t>(languages.size()), "languages");
  }
  return sample;
}

fs::path projectTokenizerPath(const Project& project) {
  if (project.tokenizer.kind == "file") return project.resolve(project.tokenizer.path);
  return project.layout().tokenizerDir() / "tokenizer.model";
}

std::unique_ptr<Tokenizer> loadProjectTokenizer(const Project& project) {
  const fs::path path = projectTokenizerPath(project);
  std::error_code ec;
  if (project.tokenizer.kind == "train" && !fs::exists(path, ec))
    throw InputError(path.string() + ": the project's tokenizer is not trained yet (run `dmoe tokenizer train " +
                     project.file.string() + "`)");
  return loadTokenizer(path);
}

TokenizerBuild trainTokenizer(const Project& project, Reporter& reporter, bool force) {
  reporter.started({{"kind", project.tokenizer.kind}});
  if (project.tokenizer.kind == "file") {
    const fs::path file = projectTokenizerPath(project);
    std::unique_ptr<Tokenizer> tokenizer = loadTokenizer(file);  // tokenizer.model or tokenizer.json
    reporter.log("using " + file.string() + " (tokenizer.kind is \"file\": nothing to train)");
    reporter.result("tokenizer", {{"model", file.string()}, {"kind", tokenizer->kind()},
                                  {"vocab_size", tokenizer->vocabSize()}, {"trained", false}});
    reporter.finished("skipped");
    return {file, false, tokenizer->vocabSize()};
  }

  const fs::path dir = project.layout().tokenizerDir();
  const fs::path model = dir / "tokenizer.model", vocab = dir / "tokenizer.vocab", manifestFile = dir / "manifest.json";
  const std::vector<LanguageSample> sample = drawTokenizerSample(project, reporter);
  Json perLanguage = Json::object();
  std::int64_t sampled = 0;
  std::string belowQuota;
  for (const LanguageSample& s : sample) {
    perLanguage[s.language] = s.documents.size();
    sampled += static_cast<std::int64_t>(s.documents.size());
    if (s.trainingDocuments < project.tokenizer.sample_documents_per_language)
      belowQuota += (belowQuota.empty() ? "" : ", ") + s.language + " " + std::to_string(s.trainingDocuments);
  }
  if (!belowQuota.empty())
    reporter.log("fewer training documents than the quota of " +
                 std::to_string(project.tokenizer.sample_documents_per_language) + ", all sampled: " + belowQuota);
  if (sampled == 0)
    throw InputError(project.corpusRoot().string() + ": no training documents to train the tokenizer on");

  const auto [sampleHash, split] = sampleLines(sample, nullptr);
  if (split.shortenedDocuments > 0)
    reporter.log(std::to_string(split.shortenedDocuments) + " sampled document" + (split.shortenedDocuments == 1 ? "" : "s") +
                 " over " + std::to_string(kMaxSampleDocumentBytes) + " bytes shortened to their first " +
                 std::to_string(kMaxSampleDocumentBytes) + " bytes for the tokenizer trainer");
  if (split.splitDocuments > 0)
    reporter.log(std::to_string(split.splitDocuments) + " document" + (split.splitDocuments == 1 ? "" : "s") +
                 " over " + std::to_string(kMaxSentenceBytes) + " bytes split into " +
                 std::to_string(split.splitLines) + " more lines at word boundaries for the tokenizer trainer");
  const Json settings = trainerSettings(project.tokenizer);

  if (!force && upToDate(readManifest(manifestFile), settings, sampleHash, model)) {
    SentencePieceTokenizer tokenizer(model);
    reporter.log(model.string() + " is up to date");
    reporter.result("tokenizer", {{"model", model.string()}, {"vocab_size", tokenizer.vocabSize()}, {"trained", false}});
    reporter.finished("skipped");
    return {model, false, tokenizer.vocabSize()};
  }

  if (!isMade(dir)) markMade(dir, "tokenizer");  // inside the claimed runs folder: the workbench's
  ScratchDir scratch(dir / "training");
  const fs::path sampleFile = scratch.path / "sample.txt";
  writeSample(sample, sampleFile);
  std::map<std::string, std::string> options = trainerSettings(project.tokenizer);
  options["input"] = sampleFile.string();  // read by the module: no path in the model
  const unsigned cores = std::thread::hardware_concurrency();
  options["num_threads"] = std::to_string(project.threads > 0 ? project.threads : std::max(1u, cores));
  options["minloglevel"] = "1";  // sentencepiece's INFO chatter would bypass the event stream
  reporter.log("training a " + project.tokenizer.model_type + " model of up to " +
               std::to_string(project.tokenizer.vocab_size) + " pieces on " + std::to_string(sampled) +
               " documents from " + std::to_string(sample.size()) + " languages");
  std::string modelBytes, vocabText;
  if (std::string error = sentencePiece().train(options, modelBytes, vocabText); !error.empty())
    throw InputError("tokenizer training failed: " + error + " (check /tokenizer in " + project.file.string() + ")");

  writeFileAtomic(vocab, vocabText);
  writeFileAtomic(model, modelBytes);
  SentencePieceTokenizer tokenizer(model);
  Json manifest = {{"format", "dmoe-tokenizer/1"},
                   {"trainer", settings},
                   {"sample", {{"hash", sampleHash},
                               {"seed", project.tokenizer.seed},
                               {"documents_per_language", project.tokenizer.sample_documents_per_language},
                               {"documents", perLanguage}}},
                   {"model", {{"file", model.filename().string()}, {"hash", tokenizer.fingerprint()}}},
                   {"vocab_size", tokenizer.vocabSize()}};
  writeFileAtomic(manifestFile, dumpJson(manifest, 2) + "\n");
  if (tokenizer.vocabSize() < project.tokenizer.vocab_size)
    reporter.warning("the corpus supports only " + std::to_string(tokenizer.vocabSize()) + " of the " +
                         std::to_string(project.tokenizer.vocab_size) + " pieces asked for",
                     "/tokenizer/vocab_size");
  reporter.artifact(model, "tokenizer");
  reporter.artifact(vocab, "tokenizer-vocab");
  reporter.artifact(manifestFile, "manifest");
  reporter.result("tokenizer", {{"model", model.string()}, {"vocab_size", tokenizer.vocabSize()}, {"trained", true},
                                {"sample_documents", perLanguage}});
  reporter.finished("done");
  return {model, true, tokenizer.vocabSize()};
}

}  // namespace dmoe
