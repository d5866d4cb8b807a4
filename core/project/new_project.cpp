#include "project/new_project.h"

#include <algorithm>

#include "model/checkpoint_summary.h"
#include "model/model_config.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/text.h"

namespace dmoe {

namespace fs = std::filesystem;

namespace {

Json llamaShape(std::int64_t hidden, std::int64_t layers, std::int64_t heads, std::int64_t kvHeads,
                std::int64_t intermediate, std::int64_t context) {
  return {{"model_type", "llama"},          {"hidden_size", hidden},         {"num_hidden_layers", layers},
          {"num_attention_heads", heads},   {"num_key_value_heads", kvHeads}, {"intermediate_size", intermediate},
          {"max_position_embeddings", context}, {"tie_word_embeddings", true}};
}

// `path` relative to `dir` when it lies inside it, else absolute.
std::string pathFor(const fs::path& dir, const fs::path& path) {
  const fs::path absolute = fs::absolute(path).lexically_normal();
  const fs::path relative = absolute.lexically_relative(fs::absolute(dir).lexically_normal());
  if (!relative.empty() && *relative.begin() != "..") return relative.generic_string();
  return absolute.generic_string();
}

const ModelPreset& presetNamed(const std::string& name) {
  for (const ModelPreset& p : modelPresets())
    if (p.name == name) return p;
  std::string names;
  for (const ModelPreset& p : modelPresets()) names += (names.empty() ? "" : ", ") + p.name;
  throw InputError("unknown model preset \"" + name + "\" (expected " + names + ")");
}

Json baseModel(const NewProjectOptions& o, const fs::path& dir, Json& tokenizer) {
  if (o.checkpoint.empty()) {
    tokenizer = {{"kind", "train"}, {"vocab_size", o.vocabSize}};
    return {{"kind", "pretrain"}, {"config", presetNamed(o.preset).config}};
  }
  const CheckpointSummary base = summarizeCheckpoint(o.checkpoint);
  if (const std::string why = base.baseProblem(); !why.empty()) throw InputError(o.checkpoint.string() + ": " + why);
  tokenizer = {{"kind", "file"}, {"path", pathFor(dir, base.tokenizer)}};
  return {{"kind", "checkpoint"}, {"path", pathFor(dir, o.checkpoint)}};
}

Json languageList(const std::vector<std::string>& ids) {
  Json list = Json::array();
  for (const std::string& id : ids) list.push_back({{"id", id}});
  return list;
}

}  // namespace

std::int64_t ModelPreset::parameters(std::int64_t vocabSize) const {
  Json hf = config;
  hf["vocab_size"] = vocabSize;
  return ModelConfig::fromHfJson(hf, "preset " + name).completed("preset " + name).parameterCount();
}

const std::vector<ModelPreset>& modelPresets() {
  static const std::vector<ModelPreset> presets = {
      {"micro", "d 64, 4 layers: tries the whole flow in minutes", llamaShape(64, 4, 2, 1, 172, 128)},
      {"demo", "d 256, 8 layers: the first demo's shape (minutes to an hour on a laptop CPU)",
       llamaShape(256, 8, 4, 2, 688, 256)},
      {"small", "d 512, 8 layers: a few hours on a CPU", llamaShape(512, 8, 8, 4, 1376, 512)},
      {"base", "d 768, 12 layers: for a GPU", llamaShape(768, 12, 12, 4, 2048, 1024)},
  };
  return presets;
}

Json newProjectDocument(const NewProjectOptions& o) {
  const fs::path dir = fs::absolute(o.file).parent_path();
  Json tokenizer;
  const Json base = baseModel(o, dir, tokenizer);
  std::string stem = o.file.filename().string();  // "my.corpus.dmoe.json" → "my.corpus"
  for (const char* suffix : {".json", ".dmoe"})
    if (endsWith(stem, suffix)) stem.resize(stem.size() - std::string(suffix).size());
  Json corpus = {{"root", pathFor(dir, o.corpus)}, {"heldout", {{"fraction", o.heldoutFraction}}}};
  if (o.textKey != "text") corpus["text_key"] = o.textKey;
  if (o.checkpoint.empty()) corpus["pretrain"] = {{"fraction", o.pretrainFraction}};
  const std::int64_t groups = o.groups > 0 ? o.groups : std::min<std::int64_t>(6, static_cast<std::int64_t>(o.languages.size()));
  return {{"format", kProjectFormat},
          {"name", o.name.empty() ? stem : o.name},
          {"languages", languageList(o.languages)},
          {"new_languages", languageList(o.newLanguages)},
          {"corpus", corpus},
          {"tokenizer", tokenizer},
          {"base_model", base},
          {"grouping", {{"groups", groups}}},
          {"layer_selection", {{"epsilon", o.epsilon}}},
          {"runs_dir", o.runsDir.empty() ? "runs/" + stem : pathFor(dir, o.runsDir)}};
}

Project writeNewProject(const NewProjectOptions& options, bool overwrite) {
  std::error_code ec;
  if (fs::exists(options.file, ec)) {
    if (!overwrite) throw InputError(options.file.string() + " exists (choose another name, or replace it on purpose)");
    if (const std::string why = whyNotAProjectFile(options.file); !why.empty())
      throw InputError(options.file.string() + " is not a project file (" + why +
                       "): only a project file is replaced; choose another name");
  }
  const Json document = newProjectDocument(options);
  Project project = Project::fromJson(document, options.file);  // ValidationError: nothing written
  fs::create_directories(fs::absolute(options.file).parent_path());
  writeFileAtomic(options.file, dumpJson(document, 2) + "\n");
  return project;
}

}  // namespace dmoe
