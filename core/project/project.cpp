#include "project/project.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <type_traits>

#include "project/corpus_layout.h"
#include "project/runs_place.h"
#include "project/schema.h"
#include "results/groups_file.h"
#include "util/atomic_file.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// ---- each settings struct's keys, once, in the file's order ----
// The schema declares each key's type, default, range and help; these lists
// bind keys to members. Reader, Writer and Pointers walk them.

template <class F>
void fields(TrainingSettings& t, F&& f) {
  f("steps", t.steps);
  f("learning_rate", t.learning_rate);
  f("schedule", t.schedule);
  f("warmup_fraction", t.warmup_fraction);
  f("weight_decay", t.weight_decay);
  f("grad_clip", t.grad_clip);
  f("adam_beta1", t.adam_beta1);
  f("adam_beta2", t.adam_beta2);
  f("adam_eps", t.adam_eps);
  f("seq_len", t.seq_len);
  f("batch_sequences", t.batch_sequences);
  f("micro_batch", t.micro_batch);
  f("seed", t.seed);
  f("checkpoint_every", t.checkpoint_every);
  f("router_loss_weight", t.router_loss_weight);
  f("balance_loss_weight", t.balance_loss_weight);
}

template <class F>
void fields(AdaptationSettings& a, F&& f) {
  fields(static_cast<TrainingSettings&>(a), f);
  f("languages", a.languages);
  f("methods", a.methods);
}

template <class F>
void fields(LayerMoeSettings& l, F&& f) {
  f("similarity_tokens", l.similarity_tokens);
  f("max_document_tokens", l.max_document_tokens);
  f("budget", l.budget);
  f("delta", l.delta);
  f("min_experts", l.min_experts);
  f("allocation", l.allocation);
  f("uniform_ablation", l.uniform_ablation);
  f("top_k", l.top_k);
  f("replay_fraction", l.replay_fraction);
  f("classifier_layers", l.classifier_layers);
  f("classify_loss_weight", l.classify_loss_weight);
  f("stage1", l.stage1);
  f("stage2", l.stage2);
}

template <class F>
void fields(HeldoutSettings& h, F&& f) {
  f("fraction", h.fraction);
  f("count", h.count);
  f("min_documents", h.min_documents);
  f("seed", h.seed);
}

template <class F>
void fields(PretrainSliceSettings& p, F&& f) {
  f("fraction", p.fraction);
  f("count", p.count);
  f("seed", p.seed);
}

template <class F>
void fields(CorpusSource& s, F&& f) {
  f("kind", s.kind);
  f("package", s.package);
  f("unit", s.unit);
}

template <class F>
void fields(CorpusSettings& c, F&& f) {
  f("root", c.root);
  f("layout", c.layout);
  f("text_key", c.text_key);
  f("source", c.source);
  f("heldout", c.heldout);
  f("pretrain", c.pretrain);
}

template <class F>
void fields(TokenizerSettings& t, F&& f) {
  f("kind", t.kind);
  f("path", t.path);
  f("model_type", t.model_type);
  f("vocab_size", t.vocab_size);
  f("character_coverage", t.character_coverage);
  f("byte_fallback", t.byte_fallback);
  f("sample_documents_per_language", t.sample_documents_per_language);
  f("seed", t.seed);
}

template <class F>
void fields(ModelShape& m, F&& f) {
  f("model_type", m.model_type);
  f("hidden_size", m.hidden_size);
  f("num_hidden_layers", m.num_hidden_layers);
  f("num_attention_heads", m.num_attention_heads);
  f("num_key_value_heads", m.num_key_value_heads);
  f("intermediate_size", m.intermediate_size);
  f("max_position_embeddings", m.max_position_embeddings);
  f("rope_theta", m.rope_theta);
  f("rms_norm_eps", m.rms_norm_eps);
  f("tie_word_embeddings", m.tie_word_embeddings);
}

// A list of language ids at `pointer`: each one of `allowed` (what `what` names, listed in `list`), each once.
static void checkIdList(const Json* ids, const std::string& pointer, const std::set<std::string>& allowed,
                        const std::string& what, const std::string& list, std::vector<Problem>& errors) {
  if (!ids || !ids->is_array()) return;
  std::string names;
  for (const std::string& id : allowed) names += (names.empty() ? "" : ", ") + id;
  std::set<std::string> seen;
  for (size_t i = 0; i < ids->size(); ++i) {
    if (!(*ids)[i].is_string()) continue;
    const std::string id = (*ids)[i].get<std::string>();
    const std::string at = pointer + "/" + std::to_string(i);
    if (!allowed.count(id))
      errors.push_back({at, "'" + id + "' is not " + what + "; expected one of " + list + ": " +
                                (names.empty() ? "(none listed)" : names)});
    else if (!seen.insert(id).second)
      errors.push_back({at, "'" + id + "' is listed twice"});
  }
}

template <class F>
void fields(BaseModelSettings& b, F&& f) {
  f("kind", b.kind);
  f("path", b.path);
  f("pretrained_on_slice", b.pretrained_on_slice);
  f("pretrained_languages", b.pretrained_languages);
  f("config", b.config);
  f("pretrain", b.pretrain);
}

template <class F>
void fields(SimilaritySettings& s, F&& f) {
  f("layer_set", s.layer_set);
  f("last_n", s.last_n);
  f("layers", s.layers);
  f("sketch_dim", s.sketch_dim);
  f("sketch_seed", s.sketch_seed);
  f("sketch_check_pairs", s.sketch_check_pairs);
  f("source", s.source);
  f("split_half", s.split_half);
  f("activation_tokens", s.activation_tokens);
  f("labelling", s.labelling);
  f("permutations", s.permutations);
}

template <class F>
void fields(GroupingSettings& g, F&& f) {
  f("method", g.method);
  f("groups", g.groups);
  f("manual", g.manual);
  f("seed", g.seed);
  f("exhaustive_limit", g.exhaustive_limit);
}

template <class F>
void fields(LayerSelectionSettings& l, F&& f) {
  f("epsilon", l.epsilon);
  f("mode", l.mode);
}

template <class F>
void fields(MergeSettings& m, F&& f) {
  f("init", m.init);
  f("top_k", m.top_k);
  f("router_init_std", m.router_init_std);
  f("seed", m.seed);
}

template <class F>
void fields(TrainStages& t, F&& f) {
  f("stage1", t.stage1);
  f("stage2", t.stage2);
}

template <class F>
void fields(EvaluationSettings& e, F&& f) {
  f("window", e.window);
  f("max_documents_per_language", e.max_documents_per_language);
  f("every_steps", e.every_steps);
  f("tokens_during_training", e.tokens_during_training);
}

template <class F>
void fields(BaselineSettings& b, F&& f) {
  f("dense_continue", b.dense_continue);
  f("random_groups", b.random_groups);
  f("branch_train_mix", b.branch_train_mix);
}

// The project's settings; format and the language lists are read by Project itself.
template <class F>
void fields(Project& p, F&& f) {
  f("name", p.name);
  f("description", p.description);
  f("corpus", p.corpus);
  f("tokenizer", p.tokenizer);
  f("base_model", p.base_model);
  f("deviation", p.deviation);
  f("similarity", p.similarity);
  f("grouping", p.grouping);
  f("layer_selection", p.layer_selection);
  f("merge", p.merge);
  f("train", p.train);
  f("evaluation", p.evaluation);
  f("baselines", p.baselines);
  f("adaptation", p.adaptation);
  f("layermoe", p.layermoe);
  f("runs_dir", p.runs_dir);
  f("device", p.device);
  f("precision", p.precision);
  f("threads", p.threads);
  f("checkpoints_kept", p.checkpoints_kept);
}

const char* const kSelfReadEntries[] = {"/format", "/languages", "/new_languages"};

struct AnyField {
  template <class V>
  void operator()(const char*, V&) const {}
};
// Whether T is a settings object (has a key list) rather than a value.
template <class T, class = void>
struct HasFields : std::false_type {};
template <class T>
struct HasFields<T, std::void_t<decltype(fields(std::declval<T&>(), AnyField{}))>> : std::true_type {};

template <class T>
void readValue(const Json& j, T& value);
template <class T>
void readValue(const Json& j, std::optional<T>& value);

// Reads a validated, defaulted object; a key the file lacks and the schema
// gives no default (corpus.source) leaves the member as it is.
struct Reader {
  const Json& object;
  template <class T>
  void operator()(const char* key, T& value) const {
    if (object.contains(key)) readValue(object.at(key), value);
  }
};

template <class T>
void readValue(const Json& j, T& value) {
  if constexpr (HasFields<T>::value)
    fields(value, Reader{j});
  else
    value = j.get<T>();
}

template <class T>
void readValue(const Json& j, std::optional<T>& value) {
  value.emplace();
  readValue(j, *value);
}

template <class T>
Json writeValue(const T& value);

// Writes every key; an absent optional object is left out.
struct Writer {
  Json& object;
  template <class T>
  void operator()(const char* key, T& value) const {
    object[key] = writeValue(value);
  }
  template <class T>
  void operator()(const char* key, std::optional<T>& value) const {
    if (value) object[key] = writeValue(*value);
  }
};

template <class T>
Json writeValue(const T& value) {
  if constexpr (HasFields<T>::value) {
    T copy = value;  // the key lists take mutable members
    Json object = Json::object();
    fields(copy, Writer{object});
    return object;
  } else {
    return Json(value);
  }
}

// Collects the JSON pointer of every bound leaf.
struct Pointers {
  std::string prefix;
  std::vector<std::string>& out;
  template <class T>
  void operator()(const char* key, T& value) const {
    const std::string path = prefix + "/" + key;
    if constexpr (HasFields<T>::value)
      fields(value, Pointers{path, out});
    else
      out.push_back(path);
  }
  template <class T>
  void operator()(const char* key, std::optional<T>&) const {
    T inner{};
    (*this)(key, inner);
  }
};

Language readLanguage(const Json& j) {
  Language l;
  l.id = j.at("id").get<std::string>();
  l.name = j.value("name", "");
  l.tag = j.value("tag", "");
  l.tier = j.value("tier", "");
  return l;
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

// A setting the schema reads as an integer (2 or 2.0), else `fallback`: a
// number out of int64's range is the schema's error, never converted (UB).
std::int64_t integer(const Json* j, std::int64_t fallback) {
  if (!j || !j->is_number()) return fallback;
  if (j->is_number_unsigned()) return j->get<std::uint64_t>() <= std::uint64_t(INT64_MAX) ? j->get<std::int64_t>() : fallback;
  if (j->is_number_integer()) return j->get<std::int64_t>();
  const double x = j->get<double>();
  return std::abs(x) < 9.2e18 ? static_cast<std::int64_t>(x) : fallback;
}

fs::path resolveAgainst(const fs::path& dir, const std::string& path) {
  fs::path p(path);
  return p.is_absolute() ? p : (dir / p).lexically_normal();
}

// ".jsonl.gz, .jsonl.zst, .json": the extensions after the preferred one, for messages.
std::string otherCorpusExtensions() {
  std::string text;
  for (size_t i = 1; i < corpusFileExtensions().size(); ++i) text += (i > 1 ? ", " : "") + corpusFileExtensions()[i];
  return text;
}

void checkSemantics(const Json& r, const fs::path& dir, std::vector<Problem>& errors, std::vector<Problem>& warnings) {
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
    // Entries that are not strings are the schema's to report: "" is skipped.
    std::vector<std::vector<std::string>> groups;
    for (const Json& group : *manual) {
      groups.emplace_back();
      if (!group.is_array()) groups.back().push_back("");  // the schema's to report, not an empty group
      else
        for (const Json& entry : group) groups.back().push_back(entry.is_string() ? entry.get<std::string>() : "");
    }
    const std::vector<std::string> ids(current.begin(), current.end());
    std::vector<Problem> found = partitionProblems(
        groups, ids, [](size_t g, size_t i) { return "/grouping/manual/" + std::to_string(g) + "/" + std::to_string(i); },
        [&](const std::string& id) {
          return fresh.count(id) ? "'" + id + "' is a new language (held back for adaptation); groups take only /languages"
                                 : "unknown language '" + id + "' (not in /languages)";
        },
        "/grouping/manual");
    for (Problem& p : found) {
      const bool missing = p.where == "/grouping/manual";
      if (!missing) errors.push_back(std::move(p));
      else if (method == "manual" && !manual->empty()) errors.push_back(std::move(p));
    }
    if (method == "manual" && manual->empty())
      errors.push_back({"/grouping/manual", "method is manual but no groups are given"});
  }
  // Adaptation languages: new languages, each once; the checkpoint's pretraining languages: training ones, each once.
  checkIdList(at(r, {"adaptation", "languages"}), "/adaptation/languages", fresh, "a new language", "/new_languages", errors);
  checkIdList(at(r, {"base_model", "pretrained_languages"}), "/base_model/pretrained_languages", current,
              "a training language", "/languages", errors);

  // LayerMoE: a budget or δ, and δ only with the layer-wise allocation.
  const Json* delta = at(r, {"layermoe", "delta"});
  if (delta && delta->is_number() && delta->get<double>() > 0) {
    if (integer(at(r, {"layermoe", "budget"}), 0) > 0)
      errors.push_back({"/layermoe/delta", "δ and /layermoe/budget are both set; give one (δ > 0 or a budget > 0)"});
    if (str(at(r, {"layermoe", "allocation"})) == "uniform")
      errors.push_back({"/layermoe/delta", "the uniform allocation spreads a budget, not δ; set /layermoe/budget instead"});
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
          if (id.empty()) continue;
          const std::string pointer = "/" + std::string(list) + "/" + std::to_string(i);
          const std::vector<fs::path> found = existingCorpusFiles(root, id);
          if (found.empty())
            errors.push_back({pointer, "missing corpus file " + corpusFileFor(root, id).string() + " (or " +
                                           otherCorpusExtensions() + ")"});
          else if (found.size() > 1)
            warnings.push_back({pointer, "both " + found[0].filename().string() + " and " +
                                             found[1].filename().string() + " in " + root.string() + "; reading " +
                                             found[0].filename().string()});
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
    const std::string tokenizerKind = str(at(r, {"tokenizer", "kind"}));
    if (tokenizerKind.empty() || tokenizerKind == "train")
      errors.push_back({"/tokenizer/kind", "a checkpoint base reads the ids of its own tokenizer, not of one trained "
                                           "on this corpus: set kind \"file\" and path to the checkpoint's "
                                           "tokenizer.model or tokenizer.json"});
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

  // Steps that cannot be 0: an untrained base, or deviations that are all zero (every layer would tie).
  if (str(at(r, {"base_model", "kind"})) != "checkpoint" && integer(at(r, {"base_model", "pretrain", "steps"}), 1) == 0)
    errors.push_back({"/base_model/pretrain/steps", "0 steps would leave the base model untrained: at least 1"});
  if (integer(at(r, {"deviation", "steps"}), 1) == 0)
    errors.push_back({"/deviation/steps", "0 steps leave every deviation at zero (no layer could be chosen): at least 1"});

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
  checkSemantics(r, absolute.parent_path(), errors, warnings);
  const char* home = std::getenv("HOME");
  checkRunsFolderPlace(resolveAgainst(absolute.parent_path(), str(at(r, {"runs_dir"}), "runs")), absolute.parent_path(),
                       resolveAgainst(absolute.parent_path(), str(at(r, {"corpus", "root"}), "corpus")),
                       at(r, {"corpus", "source"}) != nullptr, home ? fs::path(home) : fs::path(), errors);
  if (!errors.empty()) throw ValidationError(file.string(), errors);

  Project p;
  p.file = absolute;
  p.document = document;
  p.warnings = warnings;
  readValue(r, p);
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
  return p;
}

Project Project::load(const fs::path& file) {
  const std::string text = readFile(file);
  Project p = fromJson(parseJsonText(text, file.string()), file);
  for (const std::string& pointer : duplicateKeyPointers(text))
    p.warnings.push_back({pointer, "given more than once in " + file.string() + "; only the last value is used"});
  return p;
}

Json Project::toJson() const {
  Json langs = Json::array(), fresh = Json::array();
  for (const Language& l : languages) langs.push_back(writeLanguage(l));
  for (const Language& l : new_languages) fresh.push_back(writeLanguage(l));
  const Json settings = writeValue(*this);
  // The schema's order, so keys a save adds land where a reader expects them.
  Json full{{"format", kProjectFormat}, {"name", settings.at("name")}, {"description", settings.at("description")},
            {"languages", langs},         {"new_languages", fresh}};
  full.update(settings);

  const Json defaults = Schema::project().withDefaults(Json{{"format", kProjectFormat}});
  Json out = document.is_object() ? document : Json::object();
  mergeChanged(out, full, &defaults);
  return out;
}

void Project::save() const { writeFileAtomic(file, dumpJson(toJson(), 2) + "\n"); }

std::string whyNotAProjectFile(const fs::path& file) {
  constexpr std::uintmax_t kLargest = std::uintmax_t{16} << 20;  // far above any project file
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return "not a file";  // a folder, a FIFO, a device
  if (fs::file_size(file, ec) > kLargest) return "over 16 MiB";
  const Json j = Json::parse(readFile(file), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return "not JSON";
  if (!j.is_object() || j.value("format", Json()) != kProjectFormat)
    return std::string("no \"format\": \"") + kProjectFormat + "\"";
  return "";
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
  rebase(p.similarity.labelling);
  return p;
}

fs::path Project::resolve(const std::string& path) const { return resolveAgainst(dir(), path); }

fs::path Project::corpusFile(const std::string& languageId) const {
  return corpusFileFor(corpusRoot(), languageId);
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
  if (base_model.kind != "pretrain" && !base_model.pretrained_on_slice) return false;
  const std::vector<std::string>& only = base_model.pretrained_languages;
  if (base_model.kind == "checkpoint" && !only.empty() && std::find(only.begin(), only.end(), languageId) == only.end())
    return false;
  return std::any_of(languages.begin(), languages.end(), [&](const Language& l) { return l.id == languageId; });
}

bool AdaptationSettings::runs(const std::string& method) const {
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

std::vector<Language> Project::adaptationLanguages() const {
  std::vector<Language> selected;
  for (const Language& l : new_languages)
    if (adaptation.languages.empty() ||
        std::find(adaptation.languages.begin(), adaptation.languages.end(), l.id) != adaptation.languages.end())
      selected.push_back(l);
  return selected;
}

Json toJson(const TrainingSettings& t) { return writeValue(t); }

Json toJson(const GroupingSettings& g) { return writeValue(g); }

Json describeProjectSettings() { return Schema::project().leaves(); }

template <class Settings>
Settings settingsDefaults(const std::string& pointer) {
  Json document{{"format", kProjectFormat}};
  document[Json::json_pointer(pointer)] = Json::object();
  Settings settings{};
  readValue(Schema::project().withDefaults(document).at(Json::json_pointer(pointer)), settings);
  return settings;
}
template TrainingSettings settingsDefaults<TrainingSettings>(const std::string&);
template HeldoutSettings settingsDefaults<HeldoutSettings>(const std::string&);
template PretrainSliceSettings settingsDefaults<PretrainSliceSettings>(const std::string&);
template CorpusSource settingsDefaults<CorpusSource>(const std::string&);

std::vector<std::string> boundSettingPointers() {
  std::vector<std::string> out(std::begin(kSelfReadEntries), std::end(kSelfReadEntries));
  Project project;
  fields(project, Pointers{"", out});
  return out;
}

}  // namespace dmoe
