// The corpus sources as a registry (mergekit's method registry): one row per
// corpus.source.kind with one line of help and the function that imports it.
// A new source is one file (its importer, on runImport in corpus_import.h)
// and one row here. `dmoe corpus import`, the pipeline's corpus stage and the
// error messages all go through these rows.
//
// Not here: the sources' readers (udhr_import.h, libreoffice_help_import.h).
#pragma once
#include <string>
#include <vector>

#include "corpus/corpus_import.h"

namespace dmoe {

struct CorpusSourceKind {
  std::string kind;  // corpus.source.kind
  std::string help;
  std::vector<ImportedLanguage> (*import)(const Project&, Reporter&, const ImportOptions&);
};

// In the order help and messages list them.
const std::vector<CorpusSourceKind>& corpusSourceKinds();
// The row of `kind`; InputError naming it and the kinds otherwise.
const CorpusSourceKind& corpusSourceKind(const std::string& kind);

// Creates the project's corpus from its corpus.source with that kind's
// importer (InputError when the project names no source).
std::vector<ImportedLanguage> importCorpus(const Project& project, Reporter& reporter, const ImportOptions& options = {});

}  // namespace dmoe
