#include "micro_project.h"

#include <map>
#include <random>
#include <string>
#include <vector>

#include "test_support.h"

namespace fs = std::filesystem;

namespace dmoe::test {

// Two Latin-script pairs of related word lists, two Cyrillic ones; new: one Greek, one Cyrillic.
fs::path writeMicroProject(const fs::path& dir, const Json& patch) {
  const std::map<std::string, std::vector<std::string>> words = {
      {"en", {"the", "house", "river", "people", "free", "right", "law", "every"}},
      {"nl", {"het", "huis", "rivier", "mensen", "vrij", "recht", "wet", "ieder"}},
      {"de", {"das", "Haus", "Fluss", "Menschen", "frei", "Recht", "Gesetz", "jeder"}},
      {"ru", {"дом", "река", "люди", "свобода", "право", "закон", "каждый", "мир"}},
      {"uk", {"дім", "річка", "люди", "свобода", "право", "закон", "кожен", "мир"}},
      {"el", {"σπίτι", "ποτάμι", "άνθρωποι", "ελευθερία", "δίκαιο", "νόμος", "κάθε", "ειρήνη"}},
      {"sr", {"кућа", "река", "људи", "слобода", "право", "закон", "сваки", "мир"}}};
  for (const auto& [id, list] : words) {
    std::mt19937 rng(static_cast<unsigned>(id[0] * 31 + id[1]));
    std::string lines;
    for (int d = 0; d < 60; ++d) {
      std::string text;
      for (int w = 0; w < 12; ++w) text += (w ? " " : "") + list[rng() % list.size()];
      lines += Json{{"text", text + "."}}.dump() + "\n";
    }
    writeText(dir / "corpus" / (id + ".jsonl"), lines);
  }
  const Json small{{"seq_len", 32}, {"batch_sequences", 4}, {"micro_batch", 4}, {"learning_rate", 1e-3}};
  auto training = [&](std::int64_t steps, Json extra = Json::object()) {
    Json t = small;
    t["steps"] = steps;
    for (auto& [k, v] : extra.items()) t[k] = v;
    return t;
  };
  Json project{
      {"format", "dmoe-project/1"},
      {"name", "micro"},
      {"languages", {{{"id", "en"}}, {{"id", "nl"}}, {{"id", "de"}}, {{"id", "ru"}}, {{"id", "uk"}}}},
      {"new_languages", {{{"id", "el"}}, {{"id", "sr"}}}},
      {"corpus", {{"root", "corpus"}, {"heldout", {{"fraction", 0.2}, {"seed", 7}}}}},
      {"tokenizer", {{"vocab_size", 400}, {"sample_documents_per_language", 40}, {"seed", 3}}},
      {"base_model",
       {{"kind", "pretrain"},
        {"config", {{"model_type", "llama"}, {"hidden_size", 32}, {"num_hidden_layers", 4}, {"num_attention_heads", 2},
                    {"num_key_value_heads", 1}, {"intermediate_size", 64}, {"max_position_embeddings", 32}}},
        {"pretrain", training(30, {{"batch_sequences", 8}, {"micro_batch", 8}, {"learning_rate", 3e-3}})}}},
      {"deviation", training(3)},
      {"similarity", {{"last_n", 2}}},
      {"grouping", {{"groups", 2}}},
      {"layer_selection", {{"epsilon", 0.5}}},
      {"train", {{"stage1", training(6, {{"micro_batch", 2}, {"checkpoint_every", 3}, {"router_loss_weight", 1.28}})},
                 {"stage2", training(6, {{"balance_loss_weight", 0.02}})}}},
      {"adaptation", training(5, {{"router_loss_weight", 1.28}})},
      {"evaluation", {{"every_steps", 4}}},
      {"runs_dir", "runs"}};
  project.merge_patch(patch);
  writeText(dir / "micro.dmoe.json", project.dump(2));
  return dir / "micro.dmoe.json";
}

}  // namespace dmoe::test
