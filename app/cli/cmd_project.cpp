// `dmoe project check|describe|new`: validate a project file; list every
// setting; write a new project for your own corpus and base (project/new_project.h).
#include <algorithm>
#include <iomanip>
#include <iostream>

#include "cli_context.h"
#include "model/checkpoint_summary.h"
#include "project/new_project.h"
#include "project/project.h"
#include "corpus/corpus_folder.h"
#include "util/text.h"

namespace dmoe::cli {

namespace {

std::string presetHelp() {
  std::string text = "Shape of the base to pretrain when there is no --base:";
  for (const ModelPreset& p : modelPresets())
    text += "\n  " + p.name + ": " + p.help + ", " + shortCount(static_cast<double>(p.parameters(8000))) + " parameters with 8000 tokens";
  return text;
}

void addNewProjectCommand(CLI::App& project, CliContext& ctx) {
  auto* cmd = project.add_subcommand(
      "new", "Write a new project file for a corpus folder and a base (a Hugging Face checkpoint, or a small model to pretrain)");
  cmd->footer(
      "Languages are the corpus files' stems (`dmoe corpus scan FOLDER` lists them). Without --languages every\n"
      "language of the folder not given to --new trains. Every other setting keeps its default (`dmoe project\n"
      "describe`); the file is validated as on load (the numbers' ranges included) and written only then. The corpus\n"
      "folder is never written to.\n"
      "Example: dmoe project new mine.dmoe.json --corpus ~/madlad --new be,mr --base ~/models/Qwen2-0.5B --groups 4");
  auto o = std::make_shared<NewProjectOptions>();
  auto file = std::make_shared<std::string>(), corpus = std::make_shared<std::string>(),
       base = std::make_shared<std::string>(), runs = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  cmd->add_option("file", *file, "The project file to write (*.dmoe.json)")->required();
  cmd->add_option("--corpus", *corpus, "Corpus folder (<id>.jsonl, .jsonl.gz, .jsonl.zst or .json per language)")
      ->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--languages", o->languages, "Training languages (default: every one not --new)")->delimiter(',');
  cmd->add_option("--new", o->newLanguages, "Languages held back as new (adaptation, LayerMoE)")->delimiter(',');
  cmd->add_option("--base", *base, "A Hugging Face checkpoint folder (its tokenizer is used)")->check(CLI::ExistingDirectory);
  cmd->add_option("--preset", o->preset, presetHelp())->capture_default_str();
  cmd->add_option("--vocab-size", o->vocabSize, "Tokenizer to train when there is no --base")->capture_default_str();
  cmd->add_option("--groups", o->groups, "G, language groups = experts per MoE layer (default: min(6, languages))");
  cmd->add_option("--epsilon", o->epsilon, "ε: layers whose normalized deviation score reaches it become MoE layers")
      ->capture_default_str();
  cmd->add_option("--heldout", o->heldoutFraction, "Share of each language's documents held out for evaluation")
      ->capture_default_str();
  cmd->add_option("--pretrain-fraction", o->pretrainFraction,
                  "Share of the rest that pretrains the base (no --base); the remainder is the continual data")
      ->capture_default_str();
  cmd->add_option("--text-key", o->textKey, "Key of the document text in each line")->capture_default_str();
  cmd->add_option("--name", o->name, "Shown in the window title and reports (default: the file's stem)");
  cmd->add_option("--runs-dir", *runs, "Where stages write (default: runs/<stem> beside the file)");
  cmd->add_flag("--force", *force, "Replace an existing project file (any other file is never replaced)");
  cmd->callback([&ctx, o, file, corpus, base, runs, force] {
    o->file = *file;
    o->corpus = *corpus;
    o->checkpoint = *base;
    o->runsDir = *runs;
    if (o->languages.empty())
      for (const CorpusFileInfo& f : listCorpusFolder(o->corpus, o->textKey))
        if (std::find(o->newLanguages.begin(), o->newLanguages.end(), f.id) == o->newLanguages.end())
          o->languages.push_back(f.id);
    const Project p = writeNewProject(*o, *force);
    Reporter r = ctx.reporter("project");
    for (const Problem& w : p.warnings) r.warning(w.message, w.where);
    r.artifact(p.file, "project");
    r.result("project", Json{{"file", p.file.string()}, {"languages", p.languages.size()},
                             {"new_languages", p.new_languages.size()}, {"base", p.base_model.kind}});
    ctx.out() << "wrote " << p.file.string() << ": " << p.languages.size() << " training languages, "
              << p.new_languages.size() << " new, base " << (o->checkpoint.empty() ? "pretrained (" + o->preset + ")"
                                                                                   : summarizeCheckpoint(o->checkpoint).line())
              << "\nnext: dmoe run " << *file << "\n";
  });
}

}  // namespace

void addProjectCommands(CLI::App& app, CliContext& ctx) {
  auto* project = app.add_subcommand("project", "Check project files, list their settings, write a new one");
  project->require_subcommand(1);

  auto* check = project->add_subcommand("check", "Validate a project file; every problem is listed with its JSON path (exit 2 if any)");
  auto file = std::make_shared<std::string>();
  check->add_option("project", *file, "Project file (*.dmoe.json)")->required();
  check->callback([&ctx, file] {
    Reporter r = ctx.reporter("project");
    Project p = Project::load(*file);
    for (const Problem& w : p.warnings) r.warning(w.message, w.where);
    r.result("project", Json{{"file", p.file.string()}, {"languages", p.languages.size()},
                             {"new_languages", p.new_languages.size()}});
    ctx.out() << p.file.string() << ": ok (" << p.languages.size() << " languages, " << p.new_languages.size()
              << " new)\n";
  });

  addNewProjectCommand(*project, ctx);

  auto* describe = project->add_subcommand("describe", "List every project setting with its type, default and meaning");
  describe->callback([&ctx] {
    Json leaves = describeProjectSettings();
    ctx.reporter("project").result("settings", leaves);
    for (const Json& leaf : leaves) {
      std::string type = leaf.contains("enum") ? leaf["enum"].dump() : leaf.value("type", "");
      ctx.out() << std::left << std::setw(44) << leaf["pointer"].get<std::string>() << ' ' << std::setw(26) << type
                << " default " << (leaf.contains("default") ? leaf["default"].dump() : "-") << "\n    "
                << leaf.value("description", "") << '\n';
    }
  });
}

}  // namespace dmoe::cli
