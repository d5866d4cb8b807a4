// The jsonl-per-language corpus layout (the project's corpus.layout): which
// file under the corpus folder is a language's — <id>.jsonl, .jsonl.gz,
// .jsonl.zst or .json, the one place these names are spelled. Torch-free.
// Not here: reading the files (corpus/jsonl_reader.h) or listing a folder
// (corpus/corpus_folder.h).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace dmoe {

// The extensions of a language's corpus file, in the order they are preferred.
const std::vector<std::string>& corpusFileExtensions();
// The language's existing corpus files under `root`, preferred first.
std::vector<std::filesystem::path> existingCorpusFiles(const std::filesystem::path& root, const std::string& id);
// The preferred existing one; none: <root>/<id>.jsonl (for the error message).
std::filesystem::path corpusFileFor(const std::filesystem::path& root, const std::string& id);
// The id of a corpus file name ("fr.jsonl.gz" → "fr"), or "" when it has none of the extensions.
std::string corpusIdOf(const std::string& fileName);

}  // namespace dmoe
