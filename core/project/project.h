// The project file (*.dmoe.json, format "dmoe-project/1"): the one validated
// configuration every stage, the CLI and the GUI read.
//
// Loading = schema check (types, ranges, enums, every number finite and within
// float's range; resources/project.schema.json)
// + defaults + cross-field checks (groups, corpus files, model shape), with
// EVERY problem reported at once as a ValidationError (JSON path + reason).
// Saving is atomic and minimal: keys the file had, or values that differ from
// the default, are written; unknown keys and key order are kept.
// Paths are stored as written and resolved against the file's folder.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "results/run_layout.h"
#include "util/error.h"
#include "util/json.h"

namespace dmoe {

struct Language {
  std::string id;    // corpus file stem; UDHR codes kept as they are
  std::string name;  // human name
  std::string tag;   // short label for tables (the paper's code)
  std::string tier;  // resource tier for averaged reports
  Json extra = Json::object();  // the entry as loaded, so unknown keys survive a save
  const std::string& label() const { return tag.empty() ? id : tag; }
};

// The settings structs mirror the project file's objects, member names = keys.
// Types, defaults, ranges and help are declared once, in the schema; each
// struct's key list is written once, in project.cpp (fields()), and drives
// reading, saving and settingsDefaults(). Members start at zero here: a value
// that matters comes from the schema (settingsDefaults) or the file.

// One optimisation run's settings (pretrain, deviation, train stages, adaptation).
struct TrainingSettings {
  std::int64_t steps = 0;
  double learning_rate = 0;
  std::string schedule;  // constant | linear | cosine
  double warmup_fraction = 0, weight_decay = 0, grad_clip = 0;
  double adam_beta1 = 0, adam_beta2 = 0, adam_eps = 0;
  std::int64_t seq_len = 0, batch_sequences = 0, micro_batch = 0, seed = 0, checkpoint_every = 0;
  double router_loss_weight = 0, balance_loss_weight = 0;
};

struct HeldoutSettings {
  double fraction = 0;
  std::int64_t count = 0, min_documents = 0, seed = 0;
};

// The base's pretraining slice (SPEC 1.0), taken from the documents that are
// not held out; the rest is the continual slice.
struct PretrainSliceSettings {
  double fraction = 0;
  std::int64_t count = 0, seed = 0;
};

// corpus.source: where `dmoe corpus import` takes the corpus from.
struct CorpusSource {
  std::string kind, package, unit;
};

struct CorpusSettings {
  std::string root, layout, text_key;
  std::optional<CorpusSource> source;  // absent: the corpus is given as files
  HeldoutSettings heldout;
  PretrainSliceSettings pretrain;
};

struct TokenizerSettings {
  std::string kind, path, model_type;
  std::int64_t vocab_size = 0;
  double character_coverage = 0;
  bool byte_fallback = false;
  std::int64_t sample_documents_per_language = 0, seed = 0;
};

// Hugging Face config.json names.
struct ModelShape {
  std::string model_type;
  std::int64_t hidden_size = 0, num_hidden_layers = 0, num_attention_heads = 0, num_key_value_heads = 0;
  std::int64_t intermediate_size = 0, max_position_embeddings = 0;
  double rope_theta = 0, rms_norm_eps = 0;
  bool tie_word_embeddings = false;
};

struct BaseModelSettings {
  std::string kind, path;
  bool pretrained_on_slice = false;
  std::vector<std::string> pretrained_languages;  // with pretrained_on_slice: those of /languages it was pretrained on; empty = all
  ModelShape config;
  TrainingSettings pretrain;
};

struct SimilaritySettings {
  std::string layer_set;
  std::int64_t last_n = 0;
  std::vector<std::int64_t> layers;
  std::int64_t sketch_dim = 0, sketch_seed = 0, sketch_check_pairs = 0;
  std::string source;     // weights | activations
  bool split_half = false;
  std::int64_t activation_tokens = 0;
  std::string labelling;  // CSV path as written (resolve against the project file's folder); empty: none
  std::int64_t permutations = 0;
};

struct GroupingSettings {
  std::string method;
  std::int64_t groups = 0;
  std::vector<std::vector<std::string>> manual;
  std::int64_t seed = 0, exhaustive_limit = 0;
  // E, the experts per MoE layer: the number of groups this grouping forms.
  std::int64_t experts() const { return method == "manual" ? static_cast<std::int64_t>(manual.size()) : groups; }
};

struct LayerSelectionSettings {
  double epsilon = 0;
  std::string mode;
};

struct MergeSettings {
  std::string init;
  std::int64_t top_k = 0;
  double router_init_std = 0;
  std::int64_t seed = 0;  // the router initialisation
};

struct EvaluationSettings {
  std::int64_t window = 0, max_documents_per_language = 0;
  std::int64_t every_steps = 0;  // held-out PPL during training runs; observation only, in no stage's inputs
  std::int64_t tokens_during_training = 0;  // of each language, for those evaluations (0 = all); observation only
};

// The adaptation run: its training settings and which new languages it adds.
struct AdaptationSettings : TrainingSettings {
  std::vector<std::string> languages;  // ids from new_languages; empty = every new language
  std::vector<std::string> methods;    // "dmoe-adapt", "layermoe": which expansions `dmoe run` runs
  bool runs(const std::string& method) const;
};

// LayerMoE (SPEC 2): measuring the layer similarity, allocating experts, the two training stages.
struct LayerMoeSettings {
  std::int64_t similarity_tokens = 0, max_document_tokens = 0;
  std::int64_t budget = 0;  // 0: as many new experts as the DMoE adaptation added
  double delta = 0;         // > 0: δ given directly
  std::int64_t min_experts = 0;
  std::string allocation;  // layer-wise | uniform
  bool uniform_ablation = false;
  std::int64_t top_k = 0;
  double replay_fraction = 0;
  std::vector<std::int64_t> classifier_layers;
  double classify_loss_weight = 0;
  TrainingSettings stage1, stage2;
};

// train.stage1 (the DMoE's per-group branch training, SPEC 1.5) and train.stage2 (the whole MoE).
struct TrainStages {
  TrainingSettings stage1, stage2;
};

struct BaselineSettings {
  bool dense_continue = false, random_groups = false, branch_train_mix = false;
};

class Project {
 public:
  // Throws ValidationError (every problem, with JSON paths) or InputError (unreadable / not JSON).
  static Project load(const std::filesystem::path& file);
  // `file` locates relative paths; it need not exist. Throws ValidationError.
  static Project fromJson(const Json& document, const std::filesystem::path& file);

  // The document to save: the loaded one with changed settings merged in.
  Json toJson() const;
  void save() const;  // atomic, to `file`
  // Saves a relocated() copy at `target` (atomic); this object is unchanged.
  void saveAs(const std::filesystem::path& target) const { relocated(target).save(); }
  // The same project stored at `newFile`: relative paths (corpus root, runs,
  // tokenizer, base model) are rewritten so they still name the same places.
  Project relocated(const std::filesystem::path& newFile) const;

  std::filesystem::path dir() const { return file.parent_path(); }
  std::filesystem::path resolve(const std::string& path) const;  // relative → against dir()
  std::filesystem::path corpusRoot() const { return resolve(corpus.root); }
  std::filesystem::path runsDir() const { return resolve(runs_dir); }
  // Where each stage writes under runsDir().
  RunLayout layout() const { return RunLayout(runsDir()); }
  // <root>/<id>.jsonl, .jsonl.gz, .jsonl.zst or .json: the first that exists (none: the .jsonl name).
  std::filesystem::path corpusFile(const std::string& languageId) const;
  // languages then new_languages
  std::vector<Language> allLanguages() const;
  const Language* findLanguage(const std::string& id) const;
  // The new languages adaptation.languages selects (all when it is empty), in /new_languages order.
  std::vector<Language> adaptationLanguages() const;
  // Whether this language has a pretrain slice (SPEC 1.0): a training language
  // (not a new one) when the pipeline pretrains the base (base_model.kind
  // pretrain) or the checkpoint base was pretrained on it (pretrained_on_slice,
  // and among pretrained_languages when that lists any: a lifelong expansion's
  // base learned its later languages from their continual slice).
  bool hasPretrainSlice(const std::string& languageId) const;

  std::filesystem::path file;  // absolute
  std::vector<Problem> warnings;  // non-fatal findings of the last load (unknown keys, keys given twice)
  Json document;               // as loaded (keeps unknown keys and order)

  std::string name, description;
  std::vector<Language> languages, new_languages;
  CorpusSettings corpus;
  TokenizerSettings tokenizer;
  BaseModelSettings base_model;
  TrainingSettings deviation;
  SimilaritySettings similarity;
  GroupingSettings grouping;
  LayerSelectionSettings layer_selection;
  MergeSettings merge;
  TrainStages train;
  EvaluationSettings evaluation;
  BaselineSettings baselines;
  AdaptationSettings adaptation;
  LayerMoeSettings layermoe;
  std::string runs_dir, device, precision;
  std::int64_t threads = 0, checkpoints_kept = 0;
};

// The format marker every project file carries: "format": "dmoe-project/1".
inline constexpr const char* kProjectFormat = "dmoe-project/1";

// Why `file` is not a project file — not a regular file, over 16 MiB, not
// JSON, or JSON without the format marker — or "" when it is one (valid or
// not: only the marker is read). What may be replaced as a project file.
std::string whyNotAProjectFile(const std::filesystem::path& file);

// The settings as the project file spells them (saved into run folders and manifests).
Json toJson(const TrainingSettings& settings);
// grouping.* as the project file spells it, every key.
Json toJson(const GroupingSettings& settings);

// Every leaf setting with type, default, range and help (from the schema): CLI and GUI forms.
Json describeProjectSettings();

// The schema's defaults for the settings object at `pointer`, e.g.
// settingsDefaults<TrainingSettings>("/deviation"). Defined for TrainingSettings,
// HeldoutSettings, PretrainSliceSettings and CorpusSource.
template <class Settings>
Settings settingsDefaults(const std::string& pointer);

// Every setting the structs' key lists bind, as JSON pointers ("/train/stage1/steps"),
// plus the entries Project reads itself (/format, /languages, /new_languages).
// test_project checks that this equals the schema's leaves.
std::vector<std::string> boundSettingPointers();

}  // namespace dmoe
