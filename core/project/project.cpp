#include "project/project.h"

#include <algorithm>
#include <map>
#include <set>

#include "project/schema.h"
#include "util/atomic_file.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// ---- reading the (validated, defaulted) document into structs ----

Language readLanguage(const Json& j) {
  Language l;
  l.id = j.at("id").get<std::string>();
  l.name = j.value("name", "");
  l.tag = j.value("tag", "");
  l.tier = j.value("tier", "");
  return l;
}

TrainingSettings readTraining(const Json& j) {
  TrainingSettings t;
  t.steps = j.at("steps");
  t.learning_rate = j.at("learning_rate");
  t.schedule = j.at("schedule");
  t.warmup_fraction = j.at("warmup_fraction");
  t.weight_decay = j.at("weight_decay");
  t.grad_clip = j.at("grad_clip");
  t.adam_beta1 = j.at("adam_beta1");
  t.adam_beta2 = j.at("adam_beta2");
  t.adam_eps = j.at("adam_eps");
  t.seq_len = j.at("seq_len");
  t.batch_sequences = j.at("batch_sequences");
  t.micro_batch = j.at("micro_batch");
  t.seed = j.at("seed");
  t.checkpoint_every = j.at("checkpoint_every");
  t.router_loss_weight = j.at("router_loss_weight");
  t.balance_loss_weight = j.at("balance_loss_weight");
  return t;
}


Json writeLanguage(const Language& l) {
  Json j = l.extra.is_object() ? l.extra : Json::object();
  j["id"] = l.id;
  auto optional = [&](const char* key, const std::string& value) {
    if (!value.empty() || j.contains(key)) j[key] = value;
  };
  optional("name", l.name);
  optional("tag", l.tag);
  optional("tier", l.tier);
  return j;
}

// ---- cross-field checks, on the defaulted document, guarded against wrong types ----

const Json* at(const Json& j, std::initializer_list<const char*> keys) {
  const Json* node = &j;
  for (const char* key : keys) {
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &(*node)[key];
  }
  return node;
}

std::string str(const Json* j, const std::string& fallback = "") {
  return j && j->is_string() ? j->get<std::string>() : fallback;
}

std::int64_t integer(const Json* j, std::int64_t fallback) {
  return j && j->is_number() ? j->get<std::int64_t>() : fallback;
}

fs::path resolveAgainst(const fs::path& dir, const std::string& path) {
  fs::path p(path);
  return p.is_absolute() ? p : (dir / p).lexically_normal();
}

fs::path findCorpusFile(const fs::path& root, const std::string& id) {
  fs::path jsonl = root / (id + ".jsonl"), json = root / (id + ".json");
  if (!fs::exists(jsonl) && fs::exists(json)) return json;
  return jsonl;
}

void checkSemantics(const Json& r, const fs::path& dir, std::vector<Problem>& errors) {
  // Language ids unique across both lists.
  std::map<std::string, std::string> where;  // id -> pointer of its entry
  std::set<std::string> current, fresh;
  for (const char* list : {"languages", "new_languages"}) {
    const Json* langs = at(r, {list});
    if (!langs || !langs->is_array()) continue;
    for (size_t i = 0; i < langs->size(); ++i) {
      std::string id = str(at((*langs)[i], {"id"}));
      if (id.empty()) continue;
      std::string pointer = "/" + std::string(list) + "/" + std::to_string(i) + "/id";
      if (where.count(id))
        errors.push_back({pointer, "duplicate language id '" + id + "' (first at " + where[id] + ")"});
      else
        where[id] = pointer;
      (std::string(list) == "languages" ? current : fresh).insert(id);
    }
  }

  // Manual groups: every language of /languages exactly once.
  const std::string method = str(at(r, {"grouping", "method"}));
  const Json* manual = at(r, {"grouping", "manual"});
  if (manual && manual->is_array()) {
    std::map<std::string, std::string> placed;
    for (size_t g = 0; g < manual->size(); ++g) {
      const Json& group = (*manual)[g];
      if (!group.is_array()) continue;
      if (group.empty()) errors.push_back({"/grouping/manual/" + std::to_string(g), "group is empty"});
      for (size_t i = 0; i < group.size(); ++i) {
        if (!group[i].is_string()) continue;
        std::string id = group[i].get<std::string>();
        std::string pointer = "/grouping/manual/" + std::to_string(g) + "/" + std::to_string(i);
        if (fresh.count(id))
          errors.push_back({pointer, "'" + id + "' is a new language (held back for adaptation); groups take only /languages"});
        else if (!current.count(id))
          errors.push_back({pointer, "unknown language '" + id + "' (not in /languages)"});
        else if (placed.count(id))
          errors.push_back({pointer, "language '" + id + "' is in two groups (also at " + placed[id] + ")"});
        else
          placed[id] = pointer;
      }
    }
    if (method == "manual") {
      std::string missing;
      for (const std::string& id : current)
        if (!placed.count(id)) missing += (missing.empty() ? "" : ", ") + id;
      if (manual->empty())
        errors.push_back({"/grouping/manual", "method is manual but no groups are given"});
      else if (!missing.empty())
        errors.push_back({"/grouping/manual", "languages in no group: " + missing});
    }
  }
  // Adaptation languages: new languages, each once.
  const Json* adapted = at(r, {"adaptation", "languages"});
  if (adapted && adapted->is_array()) {
    std::string allowed;
    for (const std::string& id : fresh) allowed += (allowed.empty() ? "" : ", ") + id;
    std::set<std::string> seen;
    for (size_t i = 0; i < adapted->size(); ++i) {
      if (!(*adapted)[i].is_string()) continue;
      const std::string id = (*adapted)[i].get<std::string>();
      const std::string pointer = "/adaptation/languages/" + std::to_string(i);
      if (!fresh.count(id))
        errors.push_back({pointer, "'" + id + "' is not a new language; expected one of /new_languages: " +
                                       (allowed.empty() ? "(none listed)" : allowed)});
      else if (!seen.insert(id).second)
        errors.push_back({pointer, "'" + id + "' is listed twice"});
    }
  }

  const std::int64_t groups = integer(at(r, {"grouping", "groups"}), 1);
  if (method != "manual" && !current.empty() && groups > static_cast<std::int64_t>(current.size()))
    errors.push_back({"/grouping/groups", std::to_string(groups) + " groups for " + std::to_string(current.size()) +
                                              " languages: at most one group per language"});

  // Corpus files exist, unless an import source will create them.
  if (!at(r, {"corpus", "source"})) {
    fs::path root = resolveAgainst(dir, str(at(r, {"corpus", "root"}), "corpus"));
    if (!fs::is_directory(root)) {
      errors.push_back({"/corpus/root", "corpus folder " + root.string() + " does not exist"});
    } else {
      for (const char* list : {"languages", "new_languages"}) {
        const Json* langs = at(r, {list});
        if (!langs || !langs->is_array()) continue;
        for (size_t i = 0; i < langs->size(); ++i) {
          std::string id = str(at((*langs)[i], {"id"}));
          if (!id.empty() && !fs::exists(findCorpusFile(root, id)))
            errors.push_back({"/" + std::string(list) + "/" + std::to_string(i),
                              "missing corpus file " + (root / (id + ".jsonl")).string() + " (or .json)"});
        }
      }
    }
  }

  // Files named by the tokenizer and base model.
  if (str(at(r, {"tokenizer", "kind"})) == "file") {
    std::string path = str(at(r, {"tokenizer", "path"}));
    if (path.empty())
      errors.push_back({"/tokenizer/path", "kind is file but no path is given"});
    else if (!fs::is_regular_file(resolveAgainst(dir, path)))
      errors.push_back({"/tokenizer/path", "tokenizer file " + resolveAgainst(dir, path).string() + " does not exist"});
  }
  std::int64_t layers = -1;
  if (str(at(r, {"base_model", "kind"})) == "checkpoint") {
    std::string path = str(at(r, {"base_model", "path"}));
    if (path.empty())
      errors.push_back({"/base_model/path", "kind is checkpoint but no path is given"});
    else if (!fs::is_regular_file(resolveAgainst(dir, path) / "config.json"))
      errors.push_back({"/base_model/path", "no config.json in " + resolveAgainst(dir, path).string() +
                                                " (expected a Hugging Face checkpoint directory)"});
  } else {
    std::int64_t hidden = integer(at(r, {"base_model", "config", "hidden_size"}), 0);
    std::int64_t heads = integer(at(r, {"base_model", "config", "num_attention_heads"}), 0);
    std::int64_t kv = integer(at(r, {"base_model", "config", "num_key_value_heads"}), 0);
    layers = integer(at(r, {"base_model", "config", "num_hidden_layers"}), -1);
    if (heads > 0 && hidden > 0 && hidden % heads != 0)
      errors.push_back({"/base_model/config/num_attention_heads",
                        std::to_string(heads) + " heads do not divide hidden_size " + std::to_string(hidden)});
    if (heads > 0 && kv > 0 && heads % kv != 0)
      errors.push_back({"/base_model/config/num_key_value_heads",
                        std::to_string(kv) + " key/value heads do not divide " + std::to_string(heads) + " attention heads"});
  }

  // Similarity layers within the model (when its depth is known here).
  const std::string layerSet = str(at(r, {"similarity", "layer_set"}));
  const Json* list = at(r, {"similarity", "layers"});
  if (layerSet == "list" && list && list->is_array() && list->empty())
    errors.push_back({"/similarity/layers", "layer_set is list but no layers are given"});
  if (layers > 0 && list && list->is_array())
    for (size_t i = 0; i < list->size(); ++i)
      if ((*list)[i].is_number_integer() && (*list)[i].get<std::int64_t>() >= layers)
        errors.push_back({"/similarity/layers/" + std::to_string(i),
                          "layer " + (*list)[i].dump() + " does not exist (the model has " + std::to_string(layers) + ")"});
  if (layers > 0 && layerSet == "last" && integer(at(r, {"similarity", "last_n"}), 0) > layers)
    errors.push_back({"/similarity/last_n", "more layers than the model has (" + std::to_string(layers) + ")"});
}

// Writes into `target` the values of `full` that the file already had or that
// differ from `defaults`; objects recurse, so untouched defaults stay implicit.
void mergeChanged(Json& target, const Json& full, const Json* defaults) {
  for (auto it = full.begin(); it != full.end(); ++it) {
    const std::string& key = it.key();
    const Json* def = defaults && defaults->is_object() && defaults->contains(key) ? &(*defaults)[key] : nullptr;
    const bool present = target.contains(key);
    if (it.value().is_object()) {
      Json sub = present && target[key].is_object() ? target[key] : Json::object();
      mergeChanged(sub, it.value(), def);
      if (present || !sub.empty()) target[key] = sub;
    } else if (present || !def || *def != it.value()) {
      target[key] = it.value();
    }
  }
}

}  // namespace

Project Project::fromJson(const Json& document, const fs::path& file) {
  const Schema& schema = Schema::project();
  std::vector<Problem> errors, warnings;
  schema.validate(document, errors, warnings);
  const Json r = schema.withDefaults(document);
  const fs::path absolute = fs::absolute(file).lexically_normal();
  checkSemantics(r, absolute.parent_path(), errors);
  if (!errors.empty()) throw ValidationError(file.string(), errors);

  Project p;
  p.file = absolute;
  p.document = document;
  p.warnings = warnings;
  p.name = r.at("name");
  p.description = r.at("description");
  // Read from the defaulted document, but keep each entry as the user wrote it.
  auto readLanguages = [&](const char* key, std::vector<Language>& out) {
    const Json& list = r.at(key);
    for (size_t i = 0; i < list.size(); ++i) {
      out.push_back(readLanguage(list[i]));
      out.back().extra = document.contains(key) ? document[key][i] : Json::object();
    }
  };
  readLanguages("languages", p.languages);
  readLanguages("new_languages", p.new_languages);

  const Json& c = r.at("corpus");
  p.corpus.root = c.at("root");
  p.corpus.layout = c.at("layout");
  p.corpus.text_key = c.at("text_key");
  if (c.contains("source")) {
    p.corpus.has_source = true;
    p.corpus.source_kind = c["source"].at("kind");
    p.corpus.source_package = c["source"].at("package");
    p.corpus.source_unit = c["source"].at("unit");
  }
  const Json& h = c.at("heldout");
  p.corpus.heldout = {h.at("fraction"), h.at("count"), h.at("min_documents"), h.at("seed")};
  const Json& ps = c.at("pretrain");
  p.corpus.pretrain = {ps.at("fraction"), ps.at("count"), ps.at("seed")};

  const Json& t = r.at("tokenizer");
  p.tokenizer = {t.at("kind"), t.at("path"), t.at("model_type"), t.at("vocab_size"), t.at("character_coverage"),
                 t.at("byte_fallback"), t.at("sample_documents_per_language"), t.at("seed")};

  const Json& b = r.at("base_model");
  const Json& m = b.at("config");
  p.base_model.kind = b.at("kind");
  p.base_model.path = b.at("path");
  p.base_model.config = {m.at("model_type"), m.at("hidden_size"), m.at("num_hidden_layers"),
                         m.at("num_attention_heads"), m.at("num_key_value_heads"), m.at("intermediate_size"),
                         m.at("max_position_embeddings"), m.at("rope_theta"), m.at("rms_norm_eps"),
                         m.at("tie_word_embeddings")};
  p.base_model.pretrain = readTraining(b.at("pretrain"));
  p.deviation = readTraining(r.at("deviation"));

  const Json& s = r.at("similarity");
  p.similarity = {s.at("layer_set"), s.at("last_n"), s.at("layers").get<std::vector<std::int64_t>>(),
                  s.at("sketch_dim"), s.at("sketch_seed"), s.at("sketch_check_pairs")};
  const Json& g = r.at("grouping");
  p.grouping = {g.at("method"), g.at("groups"), g.at("manual").get<std::vector<std::vector<std::string>>>(),
                g.at("seed"), g.at("exhaustive_limit")};
  p.layer_selection = {r.at("layer_selection").at("epsilon"), r.at("layer_selection").at("mode")};
  p.merge = {r.at("merge").at("init"), r.at("merge").at("top_k"), r.at("merge").at("router_init_std"),
             r.at("merge").at("seed")};
  p.train_stage1 = readTraining(r.at("train").at("stage1"));
  p.train_stage2 = readTraining(r.at("train").at("stage2"));
  p.evaluation = {r.at("evaluation").at("window"), r.at("evaluation").at("max_documents_per_language"),
                  r.at("evaluation").at("every_steps")};
  const Json& bl = r.at("baselines");
  p.baselines = {bl.at("dense_continue"), bl.at("random_groups"), bl.at("branch_train_mix")};
  p.adaptation = {readTraining(r.at("adaptation")),
                  r.at("adaptation").at("languages").get<std::vector<std::string>>()};
  p.runs_dir = r.at("runs_dir");
  p.device = r.at("device");
  p.precision = r.at("precision");
  p.threads = r.at("threads");
  return p;
}

Project Project::load(const fs::path& file) {
  std::string text = readFile(file);
  Json document;
  try {
    document = Json::parse(text);
  } catch (const Json::parse_error& e) {
    // Turn the byte offset into line:column for the message.
    size_t line = 1, column = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw InputError(file.string() + ":" + std::to_string(line) + ":" + std::to_string(column) +
                     ": not valid JSON (" + e.what() + ")");
  }
  return fromJson(document, file);
}

Json Project::toJson() const {
  Json full;
  full["format"] = "dmoe-project/1";
  full["name"] = name;
  full["description"] = description;
  Json langs = Json::array(), fresh = Json::array();
  for (const Language& l : languages) langs.push_back(writeLanguage(l));
  for (const Language& l : new_languages) fresh.push_back(writeLanguage(l));
  full["languages"] = langs;
  full["new_languages"] = fresh;
  Json c = {{"root", corpus.root}, {"layout", corpus.layout}, {"text_key", corpus.text_key}};
  if (corpus.has_source)
    c["source"] = {{"kind", corpus.source_kind}, {"package", corpus.source_package}, {"unit", corpus.source_unit}};
  c["heldout"] = {{"fraction", corpus.heldout.fraction},
                  {"count", corpus.heldout.count},
                  {"min_documents", corpus.heldout.min_documents},
                  {"seed", corpus.heldout.seed}};
  c["pretrain"] = {{"fraction", corpus.pretrain.fraction}, {"count", corpus.pretrain.count}, {"seed", corpus.pretrain.seed}};
  full["corpus"] = c;
  full["tokenizer"] = {{"kind", tokenizer.kind},
                       {"path", tokenizer.path},
                       {"model_type", tokenizer.model_type},
                       {"vocab_size", tokenizer.vocab_size},
                       {"character_coverage", tokenizer.character_coverage},
                       {"byte_fallback", tokenizer.byte_fallback},
                       {"sample_documents_per_language", tokenizer.sample_documents_per_language},
                       {"seed", tokenizer.seed}};
  const ModelShape& m = base_model.config;
  full["base_model"] = {{"kind", base_model.kind},
                        {"path", base_model.path},
                        {"config",
                         {{"model_type", m.model_type},
                          {"hidden_size", m.hidden_size},
                          {"num_hidden_layers", m.num_hidden_layers},
                          {"num_attention_heads", m.num_attention_heads},
                          {"num_key_value_heads", m.num_key_value_heads},
                          {"intermediate_size", m.intermediate_size},
                          {"max_position_embeddings", m.max_position_embeddings},
                          {"rope_theta", m.rope_theta},
                          {"rms_norm_eps", m.rms_norm_eps},
                          {"tie_word_embeddings", m.tie_word_embeddings}}},
                        {"pretrain", dmoe::toJson(base_model.pretrain)}};
  full["deviation"] = dmoe::toJson(deviation);
  full["similarity"] = {{"layer_set", similarity.layer_set},       {"last_n", similarity.last_n},
                        {"layers", similarity.layers},             {"sketch_dim", similarity.sketch_dim},
                        {"sketch_seed", similarity.sketch_seed},   {"sketch_check_pairs", similarity.sketch_check_pairs}};
  full["grouping"] = dmoe::toJson(grouping);
  full["layer_selection"] = {{"epsilon", layer_selection.epsilon}, {"mode", layer_selection.mode}};
  full["merge"] = {{"init", merge.init}, {"top_k", merge.top_k}, {"router_init_std", merge.router_init_std},
                   {"seed", merge.seed}};
  full["train"] = {{"stage1", dmoe::toJson(train_stage1)}, {"stage2", dmoe::toJson(train_stage2)}};
  full["evaluation"] = {{"window", evaluation.window},
                        {"max_documents_per_language", evaluation.max_documents_per_language},
                        {"every_steps", evaluation.every_steps}};
  full["baselines"] = {{"dense_continue", baselines.dense_continue},
                       {"random_groups", baselines.random_groups},
                       {"branch_train_mix", baselines.branch_train_mix}};
  full["adaptation"] = dmoe::toJson(adaptation);
  full["adaptation"]["languages"] = adaptation.languages;
  full["runs_dir"] = runs_dir;
  full["device"] = device;
  full["precision"] = precision;
  full["threads"] = threads;

  const Json defaults = Schema::project().withDefaults(Json{{"format", "dmoe-project/1"}});
  Json out = document.is_object() ? document : Json::object();
  mergeChanged(out, full, &defaults);
  return out;
}

void Project::save() const {
  writeFileAtomic(file, toJson().dump(2, ' ', false, Json::error_handler_t::strict) + "\n");
}

Project Project::relocated(const fs::path& newFile) const {
  Project p = *this;
  p.file = fs::absolute(newFile).lexically_normal();
  if (p.dir() == dir()) return p;
  auto rebase = [&](std::string& path) {
    if (path.empty() || fs::path(path).is_absolute()) return;
    fs::path relative = resolve(path).lexically_relative(p.dir());
    path = relative.empty() ? resolve(path).string() : relative.generic_string();
  };
  rebase(p.corpus.root);
  rebase(p.runs_dir);
  rebase(p.tokenizer.path);
  rebase(p.base_model.path);
  return p;
}

fs::path Project::resolve(const std::string& path) const { return resolveAgainst(dir(), path); }

fs::path Project::corpusFile(const std::string& languageId) const {
  return findCorpusFile(corpusRoot(), languageId);
}

std::vector<Language> Project::allLanguages() const {
  std::vector<Language> all = languages;
  all.insert(all.end(), new_languages.begin(), new_languages.end());
  return all;
}

const Language* Project::findLanguage(const std::string& id) const {
  for (const auto* list : {&languages, &new_languages})
    for (const Language& l : *list)
      if (l.id == id) return &l;
  return nullptr;
}

bool Project::hasPretrainSlice(const std::string& languageId) const {
  if (base_model.kind != "pretrain") return false;
  return std::any_of(languages.begin(), languages.end(), [&](const Language& l) { return l.id == languageId; });
}

std::vector<Language> Project::adaptationLanguages() const {
  std::vector<Language> selected;
  for (const Language& l : new_languages)
    if (adaptation.languages.empty() ||
        std::find(adaptation.languages.begin(), adaptation.languages.end(), l.id) != adaptation.languages.end())
      selected.push_back(l);
  return selected;
}

Json toJson(const TrainingSettings& t) {
  return Json{{"steps", t.steps},
              {"learning_rate", t.learning_rate},
              {"schedule", t.schedule},
              {"warmup_fraction", t.warmup_fraction},
              {"weight_decay", t.weight_decay},
              {"grad_clip", t.grad_clip},
              {"adam_beta1", t.adam_beta1},
              {"adam_beta2", t.adam_beta2},
              {"adam_eps", t.adam_eps},
              {"seq_len", t.seq_len},
              {"batch_sequences", t.batch_sequences},
              {"micro_batch", t.micro_batch},
              {"seed", t.seed},
              {"checkpoint_every", t.checkpoint_every},
              {"router_loss_weight", t.router_loss_weight},
              {"balance_loss_weight", t.balance_loss_weight}};
}

Json toJson(const GroupingSettings& g) {
  return Json{{"method", g.method}, {"groups", g.groups}, {"manual", g.manual}, {"seed", g.seed},
              {"exhaustive_limit", g.exhaustive_limit}};
}

Json describeProjectSettings() { return Schema::project().leaves(); }

}  // namespace dmoe
