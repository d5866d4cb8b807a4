// `dmoe tokenizer train`, `dmoe corpus tokenize` and `dmoe tokenize`: train the
// project's sentencepiece model, build the tokenized corpus cache, and show
// how any tokenizer splits a text.
#include <sstream>

#include "util/text.h"
#include "cli_context.h"
#include "corpus/token_cache.h"
#include "project/project.h"
#include "stages/tokenizer_training.h"
#include "runtime/runs_lock.h"
#include "util/atomic_file.h"

namespace dmoe::cli {

namespace {

// The `corpus` command group, whether or not addCorpusCommands ran first.
CLI::App* corpusCommand(CLI::App& app) {
  auto found = app.get_subcommands([](CLI::App* sub) { return sub->get_name() == "corpus"; });
  if (!found.empty()) return found.front();
  auto* corpus = app.add_subcommand("corpus", "Corpus commands");
  corpus->require_subcommand(1);
  return corpus;
}

// A project file (its tokenizer) or a tokenizer file / checkpoint folder.
std::unique_ptr<Tokenizer> openTokenizer(const std::string& path) {
  if (endsWith(path, ".dmoe.json"))
    return loadProjectTokenizer(Project::load(path));
  return loadTokenizer(path);
}

void printTokens(CliContext& ctx, Reporter& reporter, const Tokenizer& tokenizer, const std::string& text,
                 bool special) {
  std::vector<TokenId> ids = tokenizer.encode(text, special);
  Json pieces = Json::array();
  std::ostringstream idLine, pieceLine;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    pieces.push_back(tokenizer.piece(ids[i]));
    idLine << (i ? " " : "") << ids[i];
    pieceLine << (i ? " " : "") << pieces.back().get<std::string>();
  }
  reporter.result("tokens", {{"text", text}, {"count", ids.size()}, {"ids", ids}, {"pieces", pieces}});
  ctx.out() << "tokens: " << ids.size() << "\nids:    " << idLine.str() << "\npieces: " << pieceLine.str() << '\n';
}

}  // namespace

void addTokenizerCommands(CLI::App& app, CliContext& ctx) {
  auto* tokenizer = app.add_subcommand("tokenizer", "Train the project's sentencepiece tokenizer");
  tokenizer->require_subcommand(1);
  auto* train = tokenizer->add_subcommand(
      "train",
      "Train <runs_dir>/tokenizer/tokenizer.model on a language-balanced sample of the training split "
      "(skipped when settings and sample are unchanged; tokenizer.kind \"file\" trains nothing)");
  auto trainProject = std::make_shared<std::string>();
  auto trainForce = std::make_shared<bool>(false);
  train->add_option("project", *trainProject, "Project file (*.dmoe.json)")->required();
  train->add_flag("--force", *trainForce, "Retrain even if the model is up to date");
  train->callback([&ctx, trainProject, trainForce] {
    Reporter reporter = ctx.reporter("tokenizer");
    const Project project = Project::load(*trainProject);
    const auto lock = lockRunsFolder(project.runsDir());
    TokenizerBuild build = trainTokenizer(project, reporter, *trainForce);
    ctx.out() << build.model.string() << ": " << build.vocabSize << " pieces"
              << (build.trained ? " (trained)" : " (up to date)") << '\n';
  });

  auto* tokenize = corpusCommand(app)->add_subcommand(
      "tokenize",
      "Tokenize every language into <runs_dir>/tokens/<lang>/{pretrain,continual,heldout}.bin, the data slices "
      "(trains the tokenizer first if needed; a language is rebuilt only when its text, the tokenizer or the slice "
      "settings changed)");
  auto tokenizeProject = std::make_shared<std::string>();
  auto tokenizeForce = std::make_shared<bool>(false);
  tokenize->add_option("project", *tokenizeProject, "Project file (*.dmoe.json)")->required();
  tokenize->add_flag("--force", *tokenizeForce, "Rebuild every language's shards (the tokenizer only if out of date)");
  tokenize->callback([&ctx, tokenizeProject, tokenizeForce] {
    Project project = Project::load(*tokenizeProject);
    const auto lock = lockRunsFolder(project.runsDir());  // it writes there: the folder is claimed and locked first
    Reporter tokenizerReporter = ctx.reporter("tokenizer");
    trainTokenizer(project, tokenizerReporter);
    std::unique_ptr<Tokenizer> tokenizer = loadProjectTokenizer(project);
    Reporter reporter = ctx.reporter("tokenize");
    std::vector<LanguageTokenCounts> counts = buildTokenCache(project, *tokenizer, reporter, *tokenizeForce);
    for (const LanguageTokenCounts& c : counts)
      ctx.out() << c.language << ": tokens (documents) pretrain " << c.pretrain.tokens << " (" << c.pretrain.documents
                << "), continual " << c.continual.tokens << " (" << c.continual.documents << "), held-out "
                << c.heldout.tokens << " (" << c.heldout.documents << ")" << (c.rebuilt ? "" : " (up to date)") << '\n';
  });

  auto* show = app.add_subcommand("tokenize", "Print the token ids and pieces of a text");
  auto source = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  auto special = std::make_shared<bool>(false);
  show->add_option("tokenizer", *source,
                   "tokenizer.model, tokenizer.json, a checkpoint folder holding one, or a project file (its tokenizer)")
      ->required();
  auto* textOption = show->add_option("--text", *text, "The text to tokenize");
  auto* fileOption = show->add_option("--file", *file, "A UTF-8 text file; each line is tokenized separately");
  textOption->excludes(fileOption);
  show->add_flag("--special", *special, "Add the tokenizer's special tokens (e.g. BOS), as its checkpoint does");
  show->callback([&ctx, source, text, file, special, textOption, fileOption] {
    if (textOption->count() == 0 && fileOption->count() == 0) throw InputError("tokenize: give --text or --file");
    std::unique_ptr<Tokenizer> tokenizer = openTokenizer(*source);
    Reporter reporter = ctx.reporter("tokenize");
    if (textOption->count() > 0) return printTokens(ctx, reporter, *tokenizer, *text, *special);
    std::istringstream in(readFile(*file));  // a regular file only: a FIFO would wait forever
    for (std::string line; std::getline(in, line);) printTokens(ctx, reporter, *tokenizer, line, *special);
  });
}

}  // namespace dmoe::cli
