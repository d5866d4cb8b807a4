// Training the project's shared sentencepiece model (tokenizer.kind "train"),
// or resolving the model file it names (kind "file").
//
// The training input is a language-balanced sample: up to
// tokenizer.sample_documents_per_language documents of each language's
// PRETRAIN slice where it has one (the tokenizer belongs to the base: the
// continual and held-out slices never enter it; corpus/data_slices.h), else
// of its documents that are not held out (new languages), drawn by seeded
// reservoir sampling, so every language gets the same quota whatever its
// corpus size. All project languages are sampled, "new" ones included: like a
// released multilingual base tokenizer, ours covers them; only the model
// weights are kept from seeing them.
//
// Fixed trainer settings (recorded in manifest.json): ids unk=0, bos=1, eos=2,
// pad=3 (Llama layout plus a pad); nmt_nfkc normalisation; digits split one
// by one; no whitespace-only pieces; hard_vocab_limit=false, so a corpus too
// small for vocab_size yields a smaller vocabulary (reported) instead of an
// error.
//
// Output: <runs_dir>/tokenizer/{tokenizer.model, tokenizer.vocab, manifest.json}.
// The model and vocab are trained under a temporary prefix and renamed into
// place; the manifest is written last. A re-run whose trainer settings and
// sample hash match the manifest (and whose model file still hashes as
// recorded) is skipped. This is the one stage whose manifest is not a
// StageFolder's: it is keyed by the sample's content and the model file's
// hash, so a tokenizer.model replaced by hand is noticed (and retrained).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "events/event_sink.h"
#include "project/project.h"
#include "tokenizer/tokenizer.h"

namespace dmoe {

struct LanguageSample {
  std::string language;
  std::int64_t trainingDocuments = 0;  // documents the sample was drawn from (its pretrain slice, else all not held out)
  std::vector<std::string> documents;  // in corpus order
};

// The deterministic training sample (same corpus + settings, same sample), in
// project language order; progress is reported per language. Throws
// InputError naming a corpus file that cannot be read.
std::vector<LanguageSample> drawTokenizerSample(const Project& project, Reporter& reporter);

// The model file the project's stages use: <runs_dir>/tokenizer/tokenizer.model
// (kind "train") or the project's tokenizer.path (kind "file").
std::filesystem::path projectTokenizerPath(const Project& project);

// Loads the project's tokenizer; InputError (with a hint to train it) if absent.
std::unique_ptr<Tokenizer> loadProjectTokenizer(const Project& project);

struct TokenizerBuild {
  std::filesystem::path model;
  bool trained = false;  // false: up to date, or kind "file"
  std::int64_t vocabSize = 0;  // actual size (≤ tokenizer.vocab_size)
};

// Trains if needed (always with `force`); kind "file" only checks the file loads.
// Throws InputError when the corpus yields no documents or sentencepiece
// rejects the settings (e.g. vocab_size below the characters it must cover).
TokenizerBuild trainTokenizer(const Project& project, Reporter& reporter, bool force = false);

}  // namespace dmoe
