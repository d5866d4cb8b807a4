// End to end: every stage of `dmoe run` on a micro project (5 languages + 1
// new, a 4-layer model of width 32), through the real CLI and its event
// stream, as the GUI runs it. Then the manifests: a re-run skips every stage;
// changing ε re-runs select-layers and what depends on it, nothing upstream;
// a deviation run interrupted after some languages resumes at the next one.
// The adaptation's promise is checked on the saved files, independently of the
// stage's own check: every old tensor of the adapted model equals the trained one.
#include "checkpoint/hf_checkpoint.h"
#include "util/json.h"

#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QtTest>
#include <map>
#include <random>

#include "test_support.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kStages = {"corpus", "tokenizer", "tokens",    "stats", "pretrain", "deviation",
                                          "select-layers", "similarity", "group", "merge", "train",
                                          "eval", "baselines", "adapt", "report"};

// Two Latin-script pairs of related word lists, two Cyrillic ones, one Greek (new).
fs::path writeMicroProject(const fs::path& dir) {
  const std::map<std::string, std::vector<std::string>> words = {
      {"en", {"the", "house", "river", "people", "free", "right", "law", "every"}},
      {"nl", {"het", "huis", "rivier", "mensen", "vrij", "recht", "wet", "ieder"}},
      {"de", {"das", "Haus", "Fluss", "Menschen", "frei", "Recht", "Gesetz", "jeder"}},
      {"ru", {"дом", "река", "люди", "свобода", "право", "закон", "каждый", "мир"}},
      {"uk", {"дім", "річка", "люди", "свобода", "право", "закон", "кожен", "мир"}},
      {"el", {"σπίτι", "ποτάμι", "άνθρωποι", "ελευθερία", "δίκαιο", "νόμος", "κάθε", "ειρήνη"}}};
  for (const auto& [id, list] : words) {
    std::mt19937 rng(static_cast<unsigned>(id[0] * 31 + id[1]));
    std::string lines;
    for (int d = 0; d < 60; ++d) {
      std::string text;
      for (int w = 0; w < 12; ++w) text += (w ? " " : "") + list[rng() % list.size()];
      lines += Json{{"text", text + "."}}.dump() + "\n";
    }
    test::writeText(dir / "corpus" / (id + ".jsonl"), lines);
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
      {"new_languages", {{{"id", "el"}}}},
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
      {"runs_dir", "runs"}};
  test::writeText(dir / "micro.dmoe.json", project.dump(2));
  return dir / "micro.dmoe.json";
}

// stage → final status ("done" | "skipped" | "failed") of a jsonl event stream.
std::map<std::string, std::string> stageStatuses(const std::string& out) {
  std::map<std::string, std::string> status;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    Json e = Json::parse(line);
    if (e["event"] == "stage" && e["status"] != "started") status[e["stage"].get<std::string>()] = e["status"].get<std::string>();
  }
  return status;
}

std::string summary(const std::map<std::string, std::string>& statuses) {
  std::string s;
  for (const std::string& stage : kStages) s += stage + "=" + (statuses.count(stage) ? statuses.at(stage) : "?") + " ";
  return s;
}

}  // namespace

class TestPipeline : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    project_ = writeMicroProject(root());
  }

  void everyStageRunsOnAMicroProjectInUnderAMinute() {
    QElapsedTimer timer;
    timer.start();
    auto r = test::runCli({"--events", "jsonl", "run", project_.string()}, root(), 180000);
    const double seconds = static_cast<double>(timer.elapsed()) / 1000.0;
    qInfo("dmoe run on the micro project: %.1f s", seconds);
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const auto statuses = stageStatuses(r.out);
    for (const std::string& stage : kStages)
      QVERIFY2(statuses.count(stage) && statuses.at(stage) != "failed", summary(statuses).c_str());
    for (const std::string& stage : {"deviation", "select-layers", "similarity", "group", "merge", "train", "eval",
                                     "baselines", "adapt", "report"})
      QVERIFY2(statuses.at(stage) == "done", summary(statuses).c_str());
    QVERIFY2(seconds < 60, "the micro pipeline must stay under a minute");

    for (const char* file : {"deviation/deviation.json", "deviation/deviation.csv", "deviation/en/ffn_delta.safetensors",
                             "select-layers/selection.json", "similarity/similarity.json", "similarity/similarity.csv",
                             "group/groups.json", "merge/model/config.json", "train/model/model.safetensors",
                             "train/stage1/metrics.jsonl", "train/stage2/metrics.jsonl", "eval/perplexity.json",
                             "baselines/dense-continue/eval/perplexity.json",
                             "baselines/random-groups/eval/perplexity.json", "adapt/adaptation.json",
                             "report/report.md", "report/report.json"})
      QVERIFY2(fs::exists(runs() / file), file);

    // Stage 1 logs the router loss, stage 2 the balance loss.
    const Json s1 = Json::parse(test::readText(runs() / "train/stage1/metrics.jsonl").substr(0, test::readText(runs() / "train/stage1/metrics.jsonl").find('\n')));
    QVERIFY(s1.contains("router_loss") && s1["router_loss"].get<double>() > 0);
    const Json s2 = Json::parse(test::readText(runs() / "train/stage2/metrics.jsonl").substr(0, test::readText(runs() / "train/stage2/metrics.jsonl").find('\n')));
    QVERIFY(s2.contains("balance_loss") && s2["balance_loss"].get<double>() > 0);

    // Groups: 5 languages in 2 balanced groups (3 + 2), every language once.
    const Json groups = Json::parse(test::readText(runs() / "group/groups.json"));
    QCOMPARE(groups["groups"].size(), size_t{2});
    QCOMPARE(groups["groups"][0]["languages"].size() + groups["groups"][1]["languages"].size(), size_t{5});
    QCOMPARE(groups["groups"][0]["languages"].size(), size_t{3});

    // The report names every method row.
    const std::string report = test::readText(runs() / "report/report.md");
    for (const char* row : {"| Base |", "| +Pre-train (dense-continue) |", "| DMoE, random groups |", "| DMoE |"})
      QVERIFY2(report.find(row) != std::string::npos, row);
  }

  // SPEC 1.8 step 4, checked on disk: the adapted model's shared weights, old
  // experts and old router rows equal the trained model's bit for bit.
  void adaptationLeavesEveryOldTensorBitIdentical() {
    CheckpointTensors trained = CheckpointTensors::open(runs() / "train/model");
    CheckpointTensors adapted = CheckpointTensors::open(runs() / "adapt/model");
    std::int64_t compared = 0, newTensors = 0;
    for (const std::string& name : adapted.names()) {
      if (!trained.contains(name)) {
        QVERIFY2(name.find(".mlp.experts.2.") != std::string::npos, name.c_str());  // only the new expert is new
        ++newTensors;
        continue;
      }
      torch::Tensor before = trained.tensor(name), after = adapted.tensor(name);
      if (name.find(".mlp.gate.weight") != std::string::npos) {
        QCOMPARE(after.size(0), before.size(0) + 1);  // one router row more
        after = after.narrow(0, 0, before.size(0));
      }
      QVERIFY2(torch::equal(before, after), name.c_str());
      ++compared;
    }
    QVERIFY(compared > 30);
    QVERIFY(newTensors > 0);
    const Json a = Json::parse(test::readText(runs() / "adapt/adaptation.json"));
    QVERIFY(a["old_hard_ppl_unchanged"].get<bool>());
    QCOMPARE(a["probe"]["el"]["ppl_per_expert"].size(), size_t{2});
  }

  void aSecondRunSkipsEveryStage() {
    auto r = test::runCli({"--events", "jsonl", "run", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const auto statuses = stageStatuses(r.out);
    for (const std::string& stage : kStages)
      QVERIFY2(statuses.count(stage) && statuses.at(stage) == "skipped", summary(statuses).c_str());
  }

  void changingEpsilonRerunsOnlySelectLayersAndWhatFollows() {
    Json p = Json::parse(test::readText(project_));
    p["layer_selection"]["epsilon"] = 0.9;
    test::writeText(project_, p.dump(2));
    auto r = test::runCli({"--events", "jsonl", "run", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const auto statuses = stageStatuses(r.out);
    for (const std::string& stage : {"tokenizer", "tokens", "pretrain", "deviation", "similarity", "group"})
      QVERIFY2(statuses.at(stage) == "skipped", summary(statuses).c_str());
    for (const std::string& stage : {"select-layers", "merge", "train", "eval", "baselines", "adapt", "report"})
      QVERIFY2(statuses.at(stage) == "done", summary(statuses).c_str());
  }

  // A crash after language k: languages before k keep their results.
  void deviationResumesAtTheInterruptedLanguage() {
    fs::remove(runs() / "deviation/manifest.json");
    fs::remove(runs() / "deviation/de/norms.json");  // "de" (3rd) and later never finished
    fs::remove(runs() / "deviation/ru/norms.json");
    fs::remove(runs() / "deviation/uk/norms.json");
    auto r = test::runCli({"deviation", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY2(r.err.find("en: done in an earlier run") != std::string::npos, r.err.c_str());
    QVERIFY(r.err.find("nl: done in an earlier run") != std::string::npos);
    QVERIFY(r.err.find("de: done in an earlier run") == std::string::npos);
    QVERIFY(fs::exists(runs() / "deviation/uk/norms.json"));
  }

  // Upcycling copies the base FFN into every expert; Branch-Train-Mix starts
  // expert g from a fine-tune on group g, so its experts differ from the start.
  void branchTrainMixExpertsStartFromGroupFineTunes() {
    auto expertsOf = [](const fs::path& modelDir) {
      CheckpointTensors t = CheckpointTensors::open(modelDir);
      std::string layer;
      for (const std::string& name : t.names())
        if (name.find(".mlp.gate.weight") != std::string::npos) layer = name.substr(0, name.size() - std::string("gate.weight").size());
      return std::make_pair(t.tensor(layer + "experts.0.up_proj.weight"), t.tensor(layer + "experts.1.up_proj.weight"));
    };
    const auto upcycled = expertsOf(runs() / "merge/model");
    QVERIFY(torch::equal(upcycled.first, upcycled.second));

    Json p = Json::parse(test::readText(project_));
    p["baselines"] = {{"dense_continue", false}, {"random_groups", false}, {"branch_train_mix", true}};
    test::writeText(project_, p.dump(2));
    auto r = test::runCli({"baselines", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const auto btm = expertsOf(runs() / "baselines/branch-train-mix/merge/model");
    QVERIFY(!torch::equal(btm.first, btm.second));
    QVERIFY(fs::exists(runs() / "baselines/branch-train-mix/eval/perplexity.json"));
  }

  void badInputFailsWithExitCode2() {
    Json p = Json::parse(test::readText(project_));
    p["layer_selection"]["epsilon"] = 1.5;
    const fs::path bad = root() / "bad.dmoe.json";
    test::writeText(bad, p.dump(2));
    auto r = test::runCli({"select-layers", bad.string()}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("/layer_selection/epsilon") != std::string::npos, r.err.c_str());

    // A damaged upstream artifact: the error names the file and where it breaks.
    test::writeText(runs() / "group/groups.json", "{\"method\": \"maximin\", ");
    r = test::runCli({"merge", project_.string()}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("group/groups.json: not valid JSON at byte") != std::string::npos, r.err.c_str());
  }

 private:
  fs::path root() const { return fs::path(dir_.path().toStdString()); }
  fs::path runs() const { return root() / "runs"; }
  QTemporaryDir dir_;
  fs::path project_;
};

QTEST_GUILESS_MAIN(TestPipeline)
#include "test_pipeline.moc"
