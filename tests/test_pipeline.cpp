// End to end: every stage of `dmoe run` on a micro project (5 languages + 2
// new, a 4-layer model of width 32), through the real CLI and its event
// stream, as the GUI runs it. Then the manifests: a re-run skips every stage;
// changing ε re-runs select-layers and what depends on it, nothing upstream;
// a deviation run interrupted after some languages resumes at the next one.
// The adaptation's promise is checked on the saved files, independently of the
// stage's own check: every old tensor of the adapted model equals the trained one.
// Cancelling (SIGTERM, as the GUI's Cancel sends it) stops training with a
// checkpoint that the same command resumes. Held-out PPL during training
// (evaluation.every_steps); `dmoe probe` alone; adaptation of chosen languages;
// LayerMoE's similarity and allocation when the project asks for them.
#include "checkpoint/hf_checkpoint.h"
#include "checkpoint/safetensors.h"
#include "checkpoint/tensor_bridge.h"
#include "corpus/token_shard.h"
#include "results/allocation_file.h"
#include "results/expansion_file.h"
#include "results/groups_file.h"
#include "results/layer_similarity_file.h"
#include "results/routing_file.h"
#include "stages/stage_inputs.h"
#include "results/similarity_file.h"
#include "train/trainer.h"
#include "util/hash.h"
#include "util/json.h"

#include <QElapsedTimer>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>

#include "micro_project.h"
#include "runtime/runs_lock.h"

#include <unistd.h>
#include "test_support.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kStages = {"corpus", "tokenizer", "tokens",    "stats", "pretrain", "deviation",
                                          "select-layers", "similarity", "group", "merge", "train",
                                          "eval", "baselines", "adapt", "layermoe-similarity",
                                          "layermoe-allocate", "layermoe-train", "report"};


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
    project_ = test::writeMicroProject(root());
  }

  void everyStageRunsOnAMicroProjectInUnderAMinute() {
    QElapsedTimer timer;
    timer.start();
    auto r = test::runCli({"--events", "jsonl", "run", project_.string()}, root(), 180000);
    const double seconds = static_cast<double>(timer.elapsed()) / 1000.0;
    qInfo("dmoe run on the micro project: %.1f s", seconds);
    QVERIFY2(r.exitCode == 0, (r.err + r.out.substr(r.out.size() > 1500 ? r.out.size() - 1500 : 0)).c_str());
    const auto statuses = stageStatuses(r.out);
    for (const std::string& stage : kStages)
      QVERIFY2(statuses.count(stage) && statuses.at(stage) != "failed", summary(statuses).c_str());
    for (const char* stage : {"deviation", "select-layers", "similarity", "group", "merge", "train", "eval",
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

    // The stationarity diagnostic: a number, each language weighted by its continual tokens, r⊥ from the recorded sizes.
    const Json stationarity = Json::parse(test::readText(runs() / "deviation/deviation.json")).at("stationarity");
    const double ratio = stationarity.at("r").get<double>();  // throws when null
    QVERIFY2(ratio > 0 && ratio <= 1, std::to_string(ratio).c_str());
    QCOMPARE(stationarity.at("weighted_gradient_norms").size(), size_t{5});
    double squares = 0, sum = 0;
    for (const auto& [id, norm] : stationarity.at("weighted_gradient_norms").items()) {
      QCOMPARE(stationarity.at("slice_tokens").at(id).get<std::int64_t>(),
               TokenShard(runs() / "tokens" / id / "continual.bin").tokenCount());
      QVERIFY(stationarity.at("sampled_tokens").at(id).get<std::int64_t>() > 0);
      squares += norm.get<double>() * norm.get<double>();
      sum += norm.get<double>();
    }
    QVERIFY(std::abs(stationarity.at("r_orthogonal").get<double>() - std::sqrt(squares) / sum) < 1e-12);

    // Stage 1 logs the router loss, stage 2 the balance loss.
    const Json s1 = Json::parse(test::readText(runs() / "train/stage1/metrics.jsonl").substr(0, test::readText(runs() / "train/stage1/metrics.jsonl").find('\n')));
    QVERIFY(s1.contains("router_loss") && s1["router_loss"].get<double>() > 0);
    const Json s2 = Json::parse(test::readText(runs() / "train/stage2/metrics.jsonl").substr(0, test::readText(runs() / "train/stage2/metrics.jsonl").find('\n')));
    QVERIFY(s2.contains("balance_loss") && s2["balance_loss"].get<double>() > 0);

    // evaluation.every_steps 4: held-out PPL of every training language after
    // steps 4 and 6 (the last) of stage 2's 6; the new languages on their new
    // experts after steps 4 and 5 of the adaptation's 5.
    auto evaluatedSteps = [&](const char* file, const std::vector<std::string>& ids) {
      std::vector<std::int64_t> steps;
      std::istringstream lines(test::readText(runs() / file));
      for (std::string line; std::getline(lines, line);) {
        const Json m = Json::parse(line);
        if (!m.contains("eval_ppl")) continue;
        steps.push_back(m["step"].get<std::int64_t>());
        if (m["eval_ppl"].size() != ids.size()) return std::vector<std::int64_t>{-1};
        for (const std::string& id : ids)
          if (!m["eval_ppl"].contains(id) || !(m["eval_ppl"][id].get<double>() > 1)) return std::vector<std::int64_t>{-1};
      }
      return steps;
    };
    QVERIFY(evaluatedSteps("train/stage2/metrics.jsonl", {"en", "nl", "de", "ru", "uk"}) == (std::vector<std::int64_t>{4, 6}));
    QVERIFY(evaluatedSteps("train/stage1/metrics.jsonl", {"en", "nl", "de", "ru", "uk"}) == (std::vector<std::int64_t>{4, 6}));
    QVERIFY(evaluatedSteps("adapt/train/metrics.jsonl", {"el", "sr"}) == (std::vector<std::int64_t>{4, 5}));
    // Every metrics event names its run folder; stage 2's lines name train/stage2.
    std::int64_t stage2Events = 0;
    std::istringstream events(r.out);
    for (std::string line; std::getline(events, line);) {
      const Json e = Json::parse(line);
      if (e["event"] != "metrics") continue;
      QVERIFY2(e.contains("run") && fs::exists(fs::path(e["run"].get<std::string>()) / "metrics.jsonl"), line.c_str());
      if (e["stage"] == "train:stage2") {
        QVERIFY(fs::equivalent(e["run"].get<std::string>(), runs() / "train/stage2"));
        ++stage2Events;
      }
    }
    QCOMPARE(stage2Events, std::int64_t{6});

    // The split-half check is on by default: each language's halves are
    // fine-tuned too, and the matrix carries their diagnostics and the reading.
    for (const char* half : {"half_a", "half_b"})
      QVERIFY(fs::exists(runs() / "deviation/en" / half / "ffn_delta.safetensors"));
    const SimilarityResult similarity = SimilarityResult::read(runs() / "similarity/similarity.json");
    QVERIFY(similarity.splitHalf);
    QCOMPARE(similarity.splitHalf->halves.size(), size_t{10});
    QCOMPARE(similarity.splitHalf->reliability.size(), size_t{5});
    QCOMPARE(similarity.splitHalf->layerReliability.size(), size_t{2});  // last_n 2
    QVERIFY(!similarity.reading().empty());
    // The halves are the alternate documents of the continual slice.
    const TokenShard shard(runs() / "tokens/en/continual.bin");
    for (int half = 0; half < 2; ++half) {
      std::vector<std::uint32_t> expected;
      for (std::int64_t d = half; d < shard.documentCount(); d += 2)
        expected.insert(expected.end(), shard.document(d).begin(), shard.document(d).end());
      QVERIFY(halfTokens(shard, half, "en") == expected);
    }
    const fs::path single = root() / "one-document.bin";  // tokens 1 2, offsets 0 2
    const std::uint32_t tokens[] = {1, 2};
    const std::uint64_t offsets[] = {0, 2};
    test::writeText(single, std::string(reinterpret_cast<const char*>(tokens), sizeof tokens));
    test::writeText(tokenIndexFile(single), std::string(reinterpret_cast<const char*>(offsets), sizeof offsets));
    const std::string error = test::inputErrorOf([&] { halfTokens(TokenShard(single), 0, "xx"); });
    QVERIFY2(error.find("xx: its continual slice") != std::string::npos && error.find("1 document(s)") != std::string::npos,
             error.c_str());

    // Groups: 5 languages in 2 balanced groups (3 + 2), every language once.
    const Json groups = Json::parse(test::readText(runs() / "group/groups.json"));
    QCOMPARE(groups["groups"].size(), size_t{2});
    QCOMPARE(groups["groups"][0]["languages"].size() + groups["groups"][1]["languages"].size(), size_t{5});
    QCOMPARE(groups["groups"][0]["languages"].size(), size_t{3});

    // The report names every method row.
    const std::string report = test::readText(runs() / "report/report.md");
    for (const char* row : {"| Base |", "| +Pre-train (dense-continue) |", "| DMoE, random groups |", "| DMoE |"})
      QVERIFY2(report.find(row) != std::string::npos, row);
    QVERIFY2(report.find("routed top-1 to its new expert (over MoE layers): ") != std::string::npos, report.c_str());
    // It names the precision each stage ran in (the tests run fp32), read from the stages' manifests.
    QVERIFY2(report.find("Computed in fp32 (pretrain, deviation, similarity, merge, train, eval, "
                         "baselines/dense-continue/train, baselines/dense-continue/eval, baselines/random-groups/train, "
                         "baselines/random-groups/eval, adapt).") != std::string::npos,
             report.c_str());
    const Json reportJson = Json::parse(test::readText(runs() / "report/report.json"));
    QCOMPARE(reportJson.at("precision").at("train").get<std::string>(), std::string("fp32"));
    char stationarityLine[64];
    std::snprintf(stationarityLine, sizeof stationarityLine, "continual data: r = %.2f (FFN gradients",
                  stationarity.at("r").get<double>());
    QVERIFY2(report.find(stationarityLine) != std::string::npos, report.c_str());
    QVERIFY2(report.find("## Fingerprints\n\nSource: weights (similarity.source). " + similarity.reading()) != std::string::npos,
             report.c_str());

    // Merge counts the DMoE's parameters for its E and top-k: the total is the merged checkpoint's own
    // count, and the report's table shows it.
    const Json merged = Json::parse(test::readText(runs() / "merge/manifest.json")).at("outputs");
    CheckpointTensors mergedTensors = CheckpointTensors::open(runs() / "merge/model");
    std::int64_t stored = 0;
    for (const std::string& name : mergedTensors.names()) stored += mergedTensors.entry(name).numel();
    QCOMPARE(merged.at("parameters").at("total").get<std::int64_t>(), stored);
    QCOMPARE(merged.at("parameters").at("active").get<std::int64_t>(), stored);  // top-2 of 2 experts: all active
    QVERIFY2(report.find("| DMoE total | ") != std::string::npos, report.c_str());
  }

  // SPEC 1.8 step 4, checked on disk: the adapted model's shared weights, old
  // experts and old router rows equal the trained model's bit for bit.
  void adaptationLeavesEveryOldTensorBitIdentical() {
    CheckpointTensors trained = CheckpointTensors::open(runs() / "train/model");
    CheckpointTensors adapted = CheckpointTensors::open(runs() / "adapt/model");
    const Json a = Json::parse(test::readText(runs() / "adapt/adaptation.json"));
    const std::int64_t added = static_cast<std::int64_t>(a["new_experts"].size());  // one per nearest expert
    QVERIFY(added >= 1 && added <= 2);
    std::int64_t compared = 0, newTensors = 0;
    for (const std::string& name : adapted.names()) {
      if (!trained.contains(name)) {
        const size_t at = name.find(".mlp.experts.");
        QVERIFY2(at != std::string::npos && std::stoi(name.substr(at + 13)) >= 2, name.c_str());  // only new experts are new
        ++newTensors;
        continue;
      }
      torch::Tensor before = trained.tensor(name), after = adapted.tensor(name);
      if (name.find(".mlp.gate.weight") != std::string::npos) {
        QCOMPARE(after.size(0), before.size(0) + added);  // a router row per new expert
        after = after.narrow(0, 0, before.size(0));
      }
      QVERIFY2(torch::equal(before, after), name.c_str());
      ++compared;
    }
    QVERIFY(compared > 30);
    QVERIFY(newTensors > 0);
    QVERIFY(a["old_hard_ppl_unchanged"].get<bool>());
    QCOMPARE(a["probe"]["el"]["ppl_per_expert"].size(), size_t{2});

    // SPEC 1.8 step 3: each new router row trained away from the row it copied
    // (a row left equal ties the two experts on every token).
    QVERIFY(!a["new_experts"].empty());
    for (const Json& e : a["new_experts"]) {
      const std::int64_t index = e["expert"], source = e["copied_from"];
      for (const std::string& name : adapted.names()) {
        if (name.find(".mlp.gate.weight") == std::string::npos) continue;
        const torch::Tensor gate = adapted.tensor(name);
        QVERIFY2(!torch::equal(gate[index], gate[source]), (name + ": new router row equals its source row").c_str());
      }
      QVERIFY(e["router_row_max_abs_diff_from_source"].get<double>() > 0);
      // A router row left equal to its source ties on every token and argmax takes
      // the source (the lower index): share 0. Trained, the new expert wins more
      // than chance among the 2 + `added` experts.
      const double chance = 1.0 / static_cast<double>(2 + added);
      for (const auto& [id, share] : e["learned_router_top1_share"].items()) {
        qInfo("new expert %lld (%s): learned-router top-1 share %.3f (chance %.3f)", static_cast<long long>(index),
              id.c_str(), share.get<double>(), chance);
        QVERIFY2(share.get<double>() > chance && share.get<double>() <= 1, id.c_str());
      }
    }
  }

  // Step 1 of adapt alone gives what adapt recorded: the same PPLs, the argmin.
  void probeAloneEqualsTheAdaptationProbe() {
    auto r = test::runCli({"--events", "jsonl", "probe", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    Json result;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      const Json e = Json::parse(line);
      if (e["event"] == "result" && e["name"] == "probe") result = e["data"];
    }
    QVERIFY2(result.is_object(), r.out.c_str());
    QCOMPARE(Json::parse(test::readText(runs() / "probe/probe.json")), result);
    QCOMPARE(result["model"].get<std::string>(), Hasher().addFile(runs() / "train/manifest.json").hex());
    QCOMPARE(result["experts"].size(), size_t{2});
    const Json adapted = Json::parse(test::readText(runs() / "adapt/adaptation.json"))["probe"];
    QCOMPARE(result["languages"].size(), size_t{2});
    for (const char* id : {"el", "sr"}) {
      const Json& mine = result["languages"][id];
      const std::vector<double> ppl = mine["ppl_per_expert"].get<std::vector<double>>();
      const std::vector<double> theirs = adapted[id]["ppl_per_expert"].get<std::vector<double>>();
      QCOMPARE(ppl.size(), size_t{2});
      QCOMPARE(mine["best_expert"].get<std::int64_t>(), std::int64_t(std::min_element(ppl.begin(), ppl.end()) - ppl.begin()));
      QCOMPARE(mine["best_expert"], adapted[id]["best_expert"]);
      QCOMPARE(mine["documents"], adapted[id]["documents"]);
      for (size_t e = 0; e < ppl.size(); ++e) QVERIFY2(std::abs(ppl[e] - theirs[e]) <= 1e-9 * theirs[e], id);
    }
    r = test::runCli({"probe", project_.string(), "--languages", "en,xx"}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("unknown language 'xx'") != std::string::npos, r.err.c_str());
  }

  void aSecondRunSkipsEveryStage() {
    auto r = test::runCli({"--events", "jsonl", "run", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, (r.err + r.out).c_str());
    const auto statuses = stageStatuses(r.out);
    for (const std::string& stage : kStages)
      QVERIFY2(statuses.count(stage) && statuses.at(stage) == "skipped", summary(statuses).c_str());
  }

  // One command per runs folder: a second exits 2 naming the holder's PID (and
  // leaves the folder alone); once the holder lets go, the same command runs.
  void aSecondCommandOnTheSameRunsFolderIsRefused() {
    const auto before = fs::last_write_time(runs() / "report/report.md");
    {
      const RunsFolderLock held(runs());
      auto r = test::runCli({"report", "--force", project_.string()}, root());
      QCOMPARE(r.exitCode, 2);
      const std::string expected =
          runs().string() + " is in use by another dmoe command (PID " + std::to_string(::getpid()) + ")";
      QVERIFY2(r.err.find(expected) != std::string::npos, r.err.c_str());
      QVERIFY(fs::last_write_time(runs() / "report/report.md") == before);
    }
    // Scratch files a dead command left in the folders dmoe made (atomic
    // writes, the tokenizer's sample) go when the lock is taken; a live
    // process's scratch, a user's file that merely looks like one, and
    // scratch names in a folder dmoe did not make stay.
    const std::string dead = ".dmoe-tmp-4194303-", alive = ".dmoe-tmp-" + std::to_string(::getpid()) + "-";
    test::writeText(runs() / "eval" / (dead + "perplexity.json"), "{");
    test::writeText(runs() / "tokenizer" / (dead + "training") / "sample.txt", "text");
    test::writeText(runs() / "eval" / (alive + "perplexity.json"), "{");
    test::writeText(runs() / "thesis.tmp-2024", "my thesis");
    test::writeText(runs() / "mine" / (dead + "notes.md"), "mine");
    auto r = test::runCli({"run", project_.string(), "--until", "corpus"}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY2(r.err.find("removed 2 scratch files or folders left by interrupted commands") != std::string::npos, r.err.c_str());
    QVERIFY(!fs::exists(runs() / "eval" / (dead + "perplexity.json")));
    QVERIFY(!fs::exists(runs() / "tokenizer" / (dead + "training")));
    QVERIFY(fs::exists(runs() / "eval" / (alive + "perplexity.json")));
    QCOMPARE(test::readText(runs() / "thesis.tmp-2024"), std::string("my thesis"));
    QCOMPARE(test::readText(runs() / "mine" / (dead + "notes.md")), std::string("mine"));
    fs::remove(runs() / "eval" / (alive + "perplexity.json"));
    QVERIFY(fs::exists(runs() / "eval/perplexity.json"));
  }

  // A missing or truncated output is not trusted: its stage runs again (the
  // trainer from its final checkpoint, so the same model comes back); a
  // stage whose product is missing (eval) reruns as before.
  void aMissingOrTruncatedOutputIsRecomputed() {
    const fs::path model = runs() / "train/model/model.safetensors";
    const std::string before = test::readText(model);
    fs::resize_file(model, 1000);
    fs::remove(runs() / "eval/perplexity.json");
    auto r = test::runCli({"--events", "jsonl", "run", project_.string(), "--from", "train", "--until", "eval"}, root());
    QVERIFY2(r.exitCode == 0, (r.err + r.out).c_str());
    QVERIFY2(r.out.find("model.safetensors changed size (1000 bytes") != std::string::npos, r.out.c_str());
    const auto statuses = stageStatuses(r.out);
    QVERIFY2(statuses.at("train") == "done" && statuses.at("eval") == "done", summary(statuses).c_str());
    QVERIFY(test::readText(model) == before);

    // Same size, other bytes: the hash finds it (the file is newer than the
    // manifest), and the stage brings the same file back. A file only touched
    // has its recorded bytes: nothing reruns.
    const fs::path ppl = runs() / "eval/perplexity.json";
    const std::string recorded = test::readText(ppl);
    std::string edited = recorded;
    const size_t digit = edited.find_first_of("12345678");
    edited[digit] = static_cast<char>(edited[digit] + 1);
    test::writeText(ppl, edited);
    r = test::runCli({"--events", "jsonl", "run", project_.string(), "--from", "eval", "--until", "eval"}, root());
    QVERIFY2(r.exitCode == 0, (r.err + r.out).c_str());
    QVERIFY2(r.out.find("perplexity.json changed content") != std::string::npos, r.out.c_str());
    QCOMPARE(stageStatuses(r.out).at("eval"), std::string("done"));
    QVERIFY(test::readText(ppl) == recorded);
    fs::last_write_time(ppl, fs::last_write_time(ppl) + std::chrono::seconds(5));
    r = test::runCli({"--events", "jsonl", "run", project_.string(), "--from", "eval", "--until", "eval"}, root());
    QVERIFY2(r.exitCode == 0, (r.err + r.out).c_str());
    QCOMPARE(stageStatuses(r.out).at("eval"), std::string("skipped"));
  }

  void changingEpsilonRerunsOnlySelectLayersAndWhatFollows() {
    Json p = Json::parse(test::readText(project_));
    p["layer_selection"]["epsilon"] = 0.9;
    test::writeText(project_, p.dump(2));
    auto r = test::runCli({"--events", "jsonl", "run", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const auto statuses = stageStatuses(r.out);
    for (const char* stage : {"tokenizer", "tokens", "pretrain", "deviation", "similarity", "group"})
      QVERIFY2(statuses.at(stage) == "skipped", summary(statuses).c_str());
    for (const char* stage : {"select-layers", "merge", "train", "eval", "baselines", "adapt", "report"})
      QVERIFY2(statuses.at(stage) == "done", summary(statuses).c_str());
  }

  // Two runs folders of one project with a stage cache: the second computes
  // neither the base nor the deviation, and its manifests equal the first's.
  // The tokenizer and token shards keep records of their own, not stage
  // folders: they are made again, deterministically the same.
  void aStageCacheSharesStagesBetweenRunsFolders() {
    const fs::path cache = root() / "stage-cache";
    std::vector<fs::path> runs;
    std::vector<std::string> outs;
    for (const char* name : {"runs-cache-a", "runs-cache-b"}) {
      Json p = Json::parse(test::readText(project_));
      p["runs_dir"] = name;
      const fs::path file = root() / (std::string(name) + ".dmoe.json");
      test::writeText(file, p.dump(2));
      auto r = test::runCli({"--events", "jsonl", "run", "--until", "deviation", "--stage-cache", cache.string(), file.string()},
                            root(), 180000);
      QVERIFY2(r.exitCode == 0, (r.err + r.out.substr(r.out.size() > 1500 ? r.out.size() - 1500 : 0)).c_str());
      runs.push_back(root() / name);
      outs.push_back(r.out);
    }
    const auto first = stageStatuses(outs[0]), second = stageStatuses(outs[1]);
    QCOMPARE(test::readText(runs[1] / "tokens/en/manifest.json"), test::readText(runs[0] / "tokens/en/manifest.json"));
    for (const char* stage : {"pretrain", "deviation"}) {
      QVERIFY2(first.at(stage) == "done", summary(first).c_str());
      QVERIFY2(second.at(stage) == "skipped", summary(second).c_str());
      QCOMPARE(test::readText(runs[1] / stage / "manifest.json"), test::readText(runs[0] / stage / "manifest.json"));
    }
    QVERIFY2(outs[1].find("restored from the stage cache") != std::string::npos, outs[1].c_str());
    QVERIFY(fs::exists(runs[1] / "deviation/en/ffn_delta.safetensors"));
    QVERIFY(!fs::exists(runs[1] / "pretrain/checkpoints"));
  }

  // A labelling gives the family score and the groups' ARI; the activations
  // fingerprint needs no split fine-tunes (the deviation stage then runs
  // without them) and writes its centred fingerprints; switching the source
  // recomputes the similarity alone.
  void familyScoreAndTheActivationsFingerprint() {
    Json p = Json::parse(test::readText(project_));
    p["runs_dir"] = "runs-fingerprints";
    p["similarity"]["labelling"] = "micro.labels.csv";
    p["similarity"]["source"] = "activations";
    p["similarity"]["activation_tokens"] = 400;
    const fs::path file = root() / "fingerprints.dmoe.json";
    test::writeText(file, p.dump(2));
    test::writeText(root() / "micro.labels.csv", "language,family,script\nen,germanic,latin\nnl,germanic,latin\n"
                                                 "de,germanic,latin\nru,slavic,cyrillic\nuk,slavic,cyrillic\n");
    auto r = test::runCli({"--events", "jsonl", "run", "--until", "group", file.string()}, root(), 180000);
    QVERIFY2(r.exitCode == 0, (r.err + r.out.substr(r.out.size() > 1500 ? r.out.size() - 1500 : 0)).c_str());
    const fs::path runs = root() / "runs-fingerprints";
    QVERIFY(!fs::exists(runs / "deviation/en/half_a"));
    for (const char* name : {"en", "en.a", "en.b", "uk.b"})
      QVERIFY2(fs::exists(runs / "similarity/fingerprints" / (std::string(name) + ".safetensors")), name);
    const SimilarityResult s = SimilarityResult::read(runs / "similarity/similarity.json");
    QCOMPARE(s.source, std::string("activations"));
    QVERIFY(s.splitHalf);
    QCOMPARE(s.families.size(), size_t{2});
    QCOMPARE(s.families[0].labelling, std::string("family"));
    QCOMPARE(s.families[1].labels, (std::vector<std::string>{"latin", "latin", "latin", "cyrillic", "cyrillic"}));
    QCOMPARE(s.families[0].withRelatives, 5);
    QVERIFY(s.families[0].pValue > 0 && s.families[0].pValue <= 1);
    // The fingerprints are centred: per layer they sum to zero over the languages.
    for (const std::string layer : {"layers.2", "layers.3"}) {
      torch::Tensor sum;
      for (const char* id : {"en", "nl", "de", "ru", "uk"}) {
        const safetensors::Reader file(runs / "similarity/fingerprints" / (std::string(id) + ".safetensors"));
        const torch::Tensor v = readTensor(file, *file.find(layer)).to(torch::kFloat64);
        QCOMPARE(v.numel(), std::int64_t{32});  // hidden_size
        sum = sum.defined() ? sum + v : v;
      }
      QVERIFY2(sum.abs().max().item<double>() < 1e-5, layer.c_str());
    }
    // The report scores the groups against each labelling.
    r = test::runCli({"--events", "jsonl", "report", file.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const Json ari = Json::parse(test::readText(runs / "report/report.json")).at("fingerprints").at("groups_ari");
    QCOMPARE(ari.size(), size_t{2});
    QVERIFY(ari.at("family").get<double>() >= -1 && ari.at("family").get<double>() <= 1);
    // A new labelling column rescoring the same matrix leaves the groups (and all after them) as they are.
    test::writeText(root() / "micro.labels.csv", "language,family,script,area\nen,germanic,latin,west\nnl,germanic,latin,west\n"
                                                 "de,germanic,latin,west\nru,slavic,cyrillic,east\nuk,slavic,cyrillic,east\n");
    r = test::runCli({"--events", "jsonl", "run", "--until", "group", file.string()}, root(), 180000);
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QCOMPARE(stageStatuses(r.out).at("similarity"), std::string("done"));
    QCOMPARE(stageStatuses(r.out).at("group"), std::string("skipped"));
    QCOMPARE(SimilarityResult::read(runs / "similarity/similarity.json").families.size(), size_t{3});

    p["similarity"]["source"] = "weights";
    p["similarity"]["split_half"] = false;
    test::writeText(file, p.dump(2));
    r = test::runCli({"--events", "jsonl", "run", "--until", "similarity", file.string()}, root(), 180000);
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const auto statuses = stageStatuses(r.out);
    QCOMPARE(statuses.at("deviation"), std::string("skipped"));
    QCOMPARE(statuses.at("similarity"), std::string("done"));
    QVERIFY(!SimilarityResult::read(runs / "similarity/similarity.json").splitHalf);

    test::writeText(root() / "micro.labels.csv", "language,family\nen,germanic\n");
    r = test::runCli({"similarity", file.string()}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("micro.labels.csv: no row for nl, de, ru, uk") != std::string::npos, r.err.c_str());
  }

  // select-layers reads ε and the mode only; an ε that expands no layer fails
  // there, naming the setting, before anything is merged.
  void selectLayersDependsOnEpsilonAlone() {
    Json p = Json::parse(test::readText(project_));
    const fs::path other = root() / "other-groups.dmoe.json";
    Json changed = p;
    changed["grouping"]["groups"] = 1;
    changed["merge"]["top_k"] = 1;
    test::writeText(other, changed.dump(2));
    auto r = test::runCli({"--events", "jsonl", "select-layers", other.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QCOMPARE(stageStatuses(r.out).at("select-layers"), std::string("skipped"));

    changed = p;
    changed["layer_selection"] = {{"epsilon", 0.0}, {"mode", "top-fraction"}};  // ⌈0 · L⌉ = 0 layers
    test::writeText(other, changed.dump(2));
    r = test::runCli({"select-layers", other.string()}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("/layer_selection/epsilon: ε = 0") != std::string::npos, r.err.c_str());
    QVERIFY2(r.err.find("expands no layer") != std::string::npos, r.err.c_str());
    // The refused ε left the last selection as it was (the ε panel still has its scores): with the
    // project's own ε nothing re-runs.
    QVERIFY(fs::exists(runs() / "select-layers/manifest.json"));
    r = test::runCli({"--events", "jsonl", "run", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const auto statuses = stageStatuses(r.out);
    for (const char* stage : {"select-layers", "merge", "train", "eval", "baselines", "adapt"})
      QVERIFY2(statuses.at(stage) == "skipped", summary(statuses).c_str());
  }

  // LayerMoE through the real CLI: off unless /adaptation/methods asks; the
  // similarity measured on the base for the old, then the new languages; the
  // allocation meets the budget; a changed budget re-allocates without
  // re-measuring; a bad setting exits 2 naming its JSON path.
  void layerMoeSimilarityAndAllocation() {
    auto r = test::runCli({"--events", "jsonl", "run", "--from", "layermoe-similarity", "--until", "layermoe-allocate",
                           project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QCOMPARE(stageStatuses(r.out).at("layermoe-similarity"), std::string("skipped"));
    QVERIFY2(r.out.find("not among /adaptation/methods") != std::string::npos, r.out.c_str());

    Json p = Json::parse(test::readText(project_));
    p["adaptation"]["methods"] = {"dmoe-adapt", "layermoe"};
    p["adaptation"]["languages"] = Json::array();
    p["layermoe"] = {{"budget", 3}, {"min_experts", 1}, {"similarity_tokens", 300}};
    const fs::path file = root() / "layermoe.dmoe.json";
    test::writeText(file, p.dump(2));
    r = test::runCli({"--events", "jsonl", "layermoe", "similarity", file.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QCOMPARE(stageStatuses(r.out).at("layermoe-similarity"), std::string("done"));
    const LayerSimilarity s = LayerSimilarity::read(runs() / "layermoe/similarity/layer_similarity.json");
    QCOMPARE(s.languages, (std::vector<std::string>{"en", "nl", "de", "ru", "uk", "el", "sr"}));
    QCOMPARE(s.isNew, (std::vector<bool>{false, false, false, false, false, true, true}));
    QCOMPARE(s.layers(), size_t{4});
    for (size_t a = 0; a < s.tokens.size(); ++a)  // 300, or the whole continual slice when it is shorter
      QVERIFY2(s.tokens[a] > 0 && s.tokens[a] <= 300, s.languages[a].c_str());
    for (size_t i = 0; i < s.layers(); ++i) {
      QVERIFY(std::abs(s.combined[i] - 0.5 * (s.newNew[i] + s.newOld[i])) < 1e-12);
      QVERIFY(std::abs(s.newNew[i] - s.pairs[i][5][6]) < 1e-12);  // the one new–new pair: el–sr
      for (size_t a = 0; a < 7; ++a) QVERIFY(s.pairs[i][a][a] > 0 && s.pairs[i][a][a] <= 1 + 1e-12);
    }

    // Layer-wise needs every S_i > 0 (1/S_i weighs the layers); a barely trained
    // micro model may point a layer's languages apart, and then the stage says so.
    r = test::runCli({"layermoe", "allocate", file.string()}, root());
    size_t nonPositive = s.layers();
    for (size_t i = s.layers(); i-- > 0;)
      if (!(s.combined[i] > 0)) nonPositive = i;
    if (nonPositive < s.layers()) {
      QCOMPARE(r.exitCode, 2);
      QVERIFY2(r.err.find("/layermoe: layer " + std::to_string(nonPositive) + ": similarity") != std::string::npos,
               r.err.c_str());
    } else {
      QVERIFY2(r.exitCode == 0, r.err.c_str());
      const ExpertAllocation a = ExpertAllocation::read(runs() / "layermoe/allocate/allocation.json");
      QCOMPARE(a.budgetSource, std::string("setting"));
      QCOMPARE(a.experts.size(), size_t{4});
      QVERIFY(a.newExperts() <= 3);
      QCOMPARE(a.exact, a.newExperts() == 3);
      QCOMPARE(a.similarity, s.combined);
    }

    // The uniform ablation at a budget of 6: 1 + ⌊6/4⌋ experts each, the remaining 2 to layers 1 and 3.
    p["layermoe"]["allocation"] = "uniform";
    p["layermoe"]["budget"] = 6;
    test::writeText(file, p.dump(2));
    r = test::runCli({"--events", "jsonl", "run", "--from", "layermoe-similarity", "--until", "layermoe-allocate",
                      file.string()}, root());
    QVERIFY2(r.exitCode == 0, (r.err + r.out).c_str());
    auto statuses = stageStatuses(r.out);
    QCOMPARE(statuses.at("layermoe-similarity"), std::string("skipped"));
    QCOMPARE(statuses.at("layermoe-allocate"), std::string("done"));
    const ExpertAllocation uniform = ExpertAllocation::read(runs() / "layermoe/allocate/allocation.json");
    QCOMPARE(uniform.experts, (std::vector<std::int64_t>{2, 3, 2, 3}));
    QVERIFY(uniform.exact);
    r = test::runCli({"--events", "jsonl", "layermoe", "allocate", file.string()}, root());
    QCOMPARE(stageStatuses(r.out).at("layermoe-allocate"), std::string("skipped"));

    p["layermoe"]["allocation"] = "uniform";
    p["layermoe"]["delta"] = 10;
    p["layermoe"]["min_experts"] = 0;
    test::writeText(file, p.dump(2));
    r = test::runCli({"layermoe", "allocate", file.string()}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("/layermoe/min_experts") != std::string::npos, r.err.c_str());
    QVERIFY2(r.err.find("/layermoe/delta: δ and /layermoe/budget are both set") != std::string::npos, r.err.c_str());
    QVERIFY2(r.err.find("the uniform allocation spreads a budget") != std::string::npos, r.err.c_str());
  }

  // `dmoe layermoe train` on the uniform allocation the previous test left
  // (2,3,2,3): expert 0 of every layer and every shared tensor come out
  // bit-identical to the base (read back from the saved checkpoints, not from
  // the stage's own check), the new experts moved; old and new languages are
  // scored; a second run skips; after losing stage 2 and the model it resumes
  // stage 1 from its checkpoint and ends with the same router; a bad setting
  // exits 2 with its JSON path.
  void layerMoeTrainKeepsTheOriginalExpertAndResumes() {
    Json p = Json::parse(test::readText(project_));
    p["adaptation"]["methods"] = {"layermoe"};
    p["adaptation"]["languages"] = Json::array();
    const Json stage{{"steps", 4}, {"learning_rate", 1e-3}, {"seq_len", 16}, {"batch_sequences", 4}, {"micro_batch", 2},
                     {"checkpoint_every", 2}};
    p["layermoe"] = {{"budget", 6}, {"allocation", "uniform"}, {"similarity_tokens", 300}, {"replay_fraction", 0.5},
                     {"classifier_layers", {3}}, {"stage1", stage}, {"stage2", stage}};
    const fs::path file = root() / "layermoe-train.dmoe.json";
    test::writeText(file, p.dump(2));
    auto r = test::runCli({"--events", "jsonl", "layermoe", "train", file.string()}, root());
    QVERIFY2(r.exitCode == 0, (r.err + r.out).c_str());
    QCOMPARE(stageStatuses(r.out).at("layermoe-train"), std::string("done"));

    const fs::path dir = runs() / "layermoe/uniform";
    const LayerMoeExpansion e = LayerMoeExpansion::read(dir / "expansion.json");
    QCOMPARE(e.experts, (std::vector<std::int64_t>{2, 3, 2, 3}));
    QCOMPARE(e.newExperts(), std::int64_t{6});
    QVERIFY(e.frozenBitIdentical && e.frozenTensorsChecked > 0);
    QCOMPARE(e.stage1Tokens, std::int64_t{4 * 4 * 16});
    QCOMPARE(e.replayShare, 0.5);  // 0.5 · stage 1's tokens over stage 2's, equal here
    const Json config = Json::parse(test::readText(dir / "model/config.json")).at("dmoe");
    QCOMPARE(config.at("experts_per_layer").get<std::vector<std::int64_t>>(), e.experts);
    QCOMPARE(config.at("router_init").get<std::string>(), std::string("xavier_normal"));
    QCOMPARE(config.at("classifier_layers").get<std::vector<std::int64_t>>(), (std::vector<std::int64_t>{3}));

    const CheckpointTensors base = CheckpointTensors::open(runs() / "pretrain/model");
    const CheckpointTensors expanded = CheckpointTensors::open(dir / "model");
    std::int64_t shared = 0;
    for (const std::string& name : base.names()) {
      const size_t mlp = name.find(".mlp.");
      const std::string saved = mlp == std::string::npos ? name : name.substr(0, mlp) + ".mlp.experts.0." + name.substr(mlp + 5);
      QVERIFY2(torch::equal(expanded.tensor(saved), base.tensor(name)), saved.c_str());
      ++shared;
    }
    QCOMPARE(shared, static_cast<std::int64_t>(base.names().size()));
    const torch::Tensor copy = expanded.tensor("model.layers.1.mlp.experts.2.up_proj.weight");
    QVERIFY2(!torch::equal(copy, base.tensor("model.layers.1.mlp.up_proj.weight")), "stage 1 left a new expert as copied");
    QCOMPARE(expanded.tensor("model.layers.3.mlp.classifier.weight").size(0), std::int64_t{2});
    const std::string stage2Metrics = test::readText(dir / "stage2/metrics.jsonl");
    QVERIFY2(stage2Metrics.find("\"classify_loss\"") != std::string::npos &&
                 stage2Metrics.find("\"lpr_loss\"") != std::string::npos,
             stage2Metrics.c_str());
    const Json ppl = Json::parse(test::readText(dir / "eval/perplexity.json"));
    QVERIFY(ppl.contains("soft") && !ppl.contains("hard"));
    QCOMPARE(ppl.at("soft").at("languages").size(), size_t{7});

    r = test::runCli({"--events", "jsonl", "layermoe", "train", file.string()}, root());
    QCOMPARE(stageStatuses(r.out).at("layermoe-train"), std::string("skipped"));

    const torch::Tensor router = expanded.tensor("model.layers.3.mlp.gate.weight");
    fs::remove(dir / "manifest.json");
    fs::remove(dir / "expansion.json");
    fs::remove_all(dir / "stage2");
    fs::remove_all(dir / "model");
    r = test::runCli({"layermoe", "train", file.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY2(r.err.find("resumed at step 4") != std::string::npos, r.err.c_str());
    QVERIFY(torch::equal(CheckpointTensors::open(dir / "model").tensor("model.layers.3.mlp.gate.weight"), router));

    // The report's comparison: base, the adaptation's starting point, the adaptation (from the first test's
    // run) and LayerMoE; LayerMoE still shows when the DMoE's evaluation has not run.
    r = test::runCli({"report", "--force", file.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    std::string report = test::readText(runs() / "report/report.md");
    for (const char* row : {"| Base | 0 |", "| DMoE (trained; the adaptation's starting point) | – |",
                            "| DMoE + adaptation (copy the nearest expert) |", "| LayerMoE, uniform allocation | 6 |"})
      QVERIFY2(report.find(row) != std::string::npos, row);
    fs::rename(runs() / "eval/manifest.json", root() / "eval-manifest.json");
    r = test::runCli({"report", "--force", file.string()}, root());
    fs::rename(root() / "eval-manifest.json", runs() / "eval/manifest.json");
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    report = test::readText(runs() / "report/report.md");
    QVERIFY2(report.find("| LayerMoE, uniform allocation | 6 |") != std::string::npos, report.c_str());
    QVERIFY2(report.find("has completed") == std::string::npos, report.c_str());

    // Routing of the expanded model: expert 0 is the original; the classifier layer (3) reports the share it
    // sends to expert 0 alone, and those tokens count as expert 0's in top1; the other layers have no classifier.
    r = test::runCli({"routing", file.string(), "--model", (dir / "model").string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const RoutingTable routed = RoutingTable::read(runs() / "routing/layermoe-uniform.json");
    QCOMPARE(routed.model, std::string("layermoe/uniform/model"));
    QVERIFY(routed.originalExpert);
    QCOMPARE(routed.classifierOriginal.size(), size_t{4});
    for (size_t m : {0, 1, 2}) QVERIFY(routed.classifierOriginal[m].empty());
    QCOMPARE(routed.classifierOriginal[3].size(), routed.languages.size());
    for (size_t a = 0; a < routed.languages.size(); ++a) {
      const double original = routed.classifierOriginal[3][a];
      QVERIFY(original >= 0 && original <= 1);
      QVERIFY(routed.top1[3][a][0] >= original - 1e-12);
      QVERIFY(std::abs(original * double(routed.tokens[a]) - std::round(original * double(routed.tokens[a]))) < 1e-6);
    }

    p["layermoe"]["replay_fraction"] = 1.5;
    test::writeText(file, p.dump(2));
    r = test::runCli({"layermoe", "train", file.string()}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("/layermoe/replay_fraction") != std::string::npos, r.err.c_str());
    p["layermoe"]["replay_fraction"] = 0.5;
    p["layermoe"]["classifier_layers"] = {7};  // the micro model has 4 layers
    test::writeText(file, p.dump(2));
    r = test::runCli({"layermoe", "train", file.string()}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("/layermoe/classifier_layers: layer 7 is not an MoE layer") != std::string::npos, r.err.c_str());
  }

  // Lifelong (SPEC 2.1/2.3): a second project expands the previous test's
  // LayerMoE model (generations: en…uk, then el, sr) with one more language,
  // bg. The old languages are the model's; only the base's own languages have
  // a pretrain slice, so el's continual data stays what the first round
  // trained on. Every expert and shared tensor of the first expansion comes
  // out bit-identical; each layer gains copies of expert 0 as generation 2;
  // the existing classifier grows to 3 classes and a new one is added; the
  // layout records the generations. A language the model never learned
  // cannot be an old one, nor an old one new (exit 2 with the JSON path).
  void layerMoeLifelongSecondRound() {
    {
      const std::vector<std::string> words{"къща", "река", "хора", "свобода", "право", "закон", "всеки", "мир"};
      std::string lines;
      for (int d = 0; d < 60; ++d) {
        std::string text;
        for (int w = 0; w < 12; ++w) text += (w ? " " : "") + words[(d * 7 + w * 3 + w * w) % words.size()];
        lines += Json{{"text", text + "."}}.dump() + "\n";
      }
      test::writeText(root() / "corpus/bg.jsonl", lines);
    }
    const fs::path first = runs() / "layermoe/uniform/model";
    Json p = Json::parse(test::readText(project_));
    p["languages"] = {{{"id", "en"}}, {{"id", "nl"}}, {{"id", "de"}}, {{"id", "ru"}}, {{"id", "uk"}}, {{"id", "el"}}, {{"id", "sr"}}};
    p["new_languages"] = {{{"id", "bg"}}};
    p["base_model"] = {{"kind", "checkpoint"}, {"path", "runs/layermoe/uniform/model"}, {"pretrained_on_slice", true},
                       {"pretrained_languages", {"en", "nl", "de", "ru", "uk"}}};
    p["tokenizer"] = {{"kind", "file"}, {"path", "runs/layermoe/uniform/model/tokenizer.model"}};
    p["runs_dir"] = "runs-lifelong";
    p["adaptation"]["methods"] = {"layermoe"};
    p["adaptation"]["languages"] = Json::array();
    const Json stage{{"steps", 4}, {"learning_rate", 1e-3}, {"seq_len", 16}, {"batch_sequences", 4}, {"micro_batch", 2}};
    p["layermoe"] = {{"budget", 4}, {"allocation", "uniform"}, {"similarity_tokens", 300}, {"replay_fraction", 0.5},
                     {"classifier_layers", {1}}, {"stage1", stage}, {"stage2", stage}};
    const fs::path file = root() / "lifelong.dmoe.json";
    test::writeText(file, p.dump(2));
    auto r = test::runCli({"run", "--until", "tokens", file.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const fs::path second = root() / "runs-lifelong";
    for (const char* slice : {"pretrain.bin", "continual.bin", "heldout.bin"})  // the base's language: as before
      QCOMPARE(test::readText(second / "tokens/en" / slice), test::readText(runs() / "tokens/en" / slice));
    for (const char* slice : {"continual.bin", "heldout.bin"})  // learned in the first round from these
      QCOMPARE(test::readText(second / "tokens/el" / slice), test::readText(runs() / "tokens/el" / slice));
    QVERIFY(!fs::exists(second / "tokens/el/pretrain.bin") || fs::file_size(second / "tokens/el/pretrain.bin") == 0);

    r = test::runCli({"--events", "jsonl", "run", file.string()}, root());  // the DMoE stages skip the MoE base
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const auto statuses = stageStatuses(r.out);
    for (const char* stage : {"deviation", "group", "merge", "train", "baselines", "adapt"})
      QVERIFY2(statuses.at(stage) == "skipped", summary(statuses).c_str());
    for (const char* stage : {"eval", "layermoe-similarity", "layermoe-allocate", "layermoe-train", "report"})
      QVERIFY2(statuses.at(stage) == "done", summary(statuses).c_str());
    QVERIFY2(r.out.find("already a mixture of experts") != std::string::npos, r.out.c_str());
    const Json baseEval = Json::parse(test::readText(root() / "runs-lifelong/eval/perplexity.json"));
    QVERIFY(baseEval.contains("base") && !baseEval.contains("soft"));  // the base alone, learned router
    QCOMPARE(baseEval.at("base").at("languages").size(), size_t{8});
    const std::string report = test::readText(root() / "runs-lifelong/report/report.md");
    QVERIFY2(report.find("generation 1 (el sr)") != std::string::npos, report.c_str());
    const LayerSimilarity s = LayerSimilarity::read(second / "layermoe/similarity/layer_similarity.json");
    QCOMPARE(s.isNew, (std::vector<bool>{false, false, false, false, false, false, false, true}));
    const fs::path dir = second / "layermoe/uniform";
    const LayerMoeExpansion e = LayerMoeExpansion::read(dir / "expansion.json");
    QCOMPARE(e.generation, std::int64_t{2});
    QCOMPARE(e.previousExperts, (std::vector<std::int64_t>{2, 3, 2, 3}));
    QCOMPARE(e.experts, (std::vector<std::int64_t>{2, 2, 2, 2}));
    QVERIFY(e.frozenBitIdentical);
    // Per token the base runs 2 of 3 experts in layers 1 and 3 (an FFN: 3 · 32 · 64); every layer already
    // routes to k = 2, so the new expert adds no active FFN, only its router row (32).
    QCOMPARE(e.baseActiveParameters, e.baseParameters - 2 * 3 * 32 * 64);
    QCOMPARE(e.parameters.active, e.baseActiveParameters + 4 * 32);
    QCOMPARE(e.parameters.total, e.baseParameters + 4 * (3 * 32 * 64 + 32));
    const Json config = Json::parse(test::readText(dir / "model/config.json")).at("dmoe");
    QCOMPARE(config.at("experts_per_layer").get<std::vector<std::int64_t>>(), (std::vector<std::int64_t>{3, 4, 3, 4}));
    QCOMPARE(config.at("expert_generations").get<std::vector<std::vector<std::int64_t>>>(),
             (std::vector<std::vector<std::int64_t>>{{0, 1, 2}, {0, 1, 1, 2}, {0, 1, 2}, {0, 1, 1, 2}}));
    QCOMPARE(config.at("generations").get<std::vector<std::vector<std::string>>>(),
             (std::vector<std::vector<std::string>>{{"en", "nl", "de", "ru", "uk"}, {"el", "sr"}, {"bg"}}));
    QCOMPARE(config.at("classifier_layers").get<std::vector<std::int64_t>>(), (std::vector<std::int64_t>{1, 3}));
    QCOMPARE(config.at("classes").get<std::int64_t>(), std::int64_t{3});

    const CheckpointTensors before = CheckpointTensors::open(first);
    const CheckpointTensors after = CheckpointTensors::open(dir / "model");
    std::int64_t kept = 0;
    for (const std::string& name : before.names()) {
      if (name.find(".mlp.gate.") != std::string::npos || name.find(".mlp.classifier.") != std::string::npos) continue;
      QVERIFY2(torch::equal(after.tensor(name), before.tensor(name)), name.c_str());
      ++kept;
    }
    QVERIFY(kept > 0);
    QCOMPARE(after.tensor("model.layers.3.mlp.classifier.weight").size(0), std::int64_t{3});
    QCOMPARE(after.tensor("model.layers.1.mlp.classifier.weight").size(0), std::int64_t{3});
    QCOMPARE(after.tensor("model.layers.1.mlp.gate.weight").size(0), std::int64_t{4});
    QVERIFY2(!torch::equal(after.tensor("model.layers.1.mlp.experts.3.up_proj.weight"),
                           after.tensor("model.layers.1.mlp.experts.0.up_proj.weight")),
             "stage 1 left the new expert as copied");
    const Json ppl = Json::parse(test::readText(dir / "eval/perplexity.json"));
    QCOMPARE(ppl.at("soft").at("languages").size(), size_t{8});

    Json bad = p;
    bad["languages"][6] = {{"id", "bg"}};
    bad["new_languages"] = {{{"id", "sr"}}};
    bad["runs_dir"] = "runs-lifelong-bad";
    test::writeText(file, bad.dump(2));
    r = test::runCli({"run", "--until", "tokens", file.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    r = test::runCli({"layermoe", "similarity", file.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    r = test::runCli({"layermoe", "allocate", file.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    r = test::runCli({"layermoe", "train", file.string()}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("/languages/6: 'bg' is not a language the base model learned") != std::string::npos, r.err.c_str());
    QVERIFY(!fs::exists(root() / "runs-lifelong-bad/layermoe/uniform/model"));
  }

  // `dmoe routing` on the trained DMoE: every language's routed tokens are its
  // held-out tokens (each document up to the model's context), and per layer
  // its top-1 shares and mean probabilities each sum to 1. A dense model is refused.
  void routingSharesOfTheTrainedDmoe() {
    auto r = test::runCli({"routing", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const RoutingTable t = RoutingTable::read(runs() / "routing/train.json");
    QCOMPARE(t.model, std::string("train/model"));
    const Json config = Json::parse(test::readText(runs() / "train/model/config.json"));
    QCOMPARE(t.layers, config.at("dmoe").at("moe_layers").get<std::vector<std::int64_t>>());
    const std::int64_t context = config.at("max_position_embeddings").get<std::int64_t>();
    QCOMPARE(t.languages.size(), size_t{7});
    for (size_t a = 0; a < t.languages.size(); ++a) {
      const TokenShard shard(runs() / "tokens" / t.languages[a] / "heldout.bin");
      std::int64_t tokens = 0;
      for (std::int64_t d = 0; d < shard.documentCount(); ++d)
        tokens += std::min<std::int64_t>(static_cast<std::int64_t>(shard.document(d).size), context);
      QCOMPARE(t.tokens[a], tokens);
      for (size_t m = 0; m < t.layers.size(); ++m) {
        double top1 = 0, probability = 0;
        for (double v : t.top1[m][a]) top1 += v;
        for (double v : t.probability[m][a]) probability += v;
        QVERIFY(std::abs(top1 - 1) < 1e-9 && std::abs(probability - 1) < 1e-9);
        for (double v : t.top1[m][a]) QVERIFY(std::abs(v * double(tokens) - std::round(v * double(tokens))) < 1e-6);
      }
    }
    r = test::runCli({"routing", project_.string(), "--model", (runs() / "pretrain/model").string()}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("no mixture-of-experts layer") != std::string::npos, r.err.c_str());

    // The DMoE exported to Qwen2-MoE (`dmoe export`) and measured through the Qwen2-MoE loader routes every
    // language's tokens exactly as the DMoE does; its file is named after the outside folder.
    r = test::runCli({"export", (runs() / "train/model").string(), (root() / "exported").string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    r = test::runCli({"routing", project_.string(), "--model", (root() / "exported").string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    std::optional<RoutingTable> exported;
    for (const fs::path& file : routingFiles(runs()))
      if (file.filename().string().rfind("external-exported-", 0) == 0) exported = RoutingTable::read(file);
    QVERIFY(exported.has_value());
    QCOMPARE(exported->layers, t.layers);
    QCOMPARE(exported->tokens, t.tokens);
    QVERIFY(exported->top1 == t.top1);
    QVERIFY(!exported->originalExpert);
  }

  // adaptation.languages picks which new languages get an expert.
  void adaptationAddsOnlyTheChosenLanguages() {
    Json p = Json::parse(test::readText(project_));
    p["adaptation"]["languages"] = {"sr"};
    test::writeText(project_, p.dump(2));
    auto r = test::runCli({"adapt", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const Json a = Json::parse(test::readText(runs() / "adapt/adaptation.json"));
    QCOMPARE(a["new_experts"].size(), size_t{1});
    QCOMPARE(a["new_experts"][0]["languages"], Json({"sr"}));
    QCOMPARE(a["new_experts"][0]["expert"].get<std::int64_t>(), std::int64_t{2});
    QCOMPARE(a["probe"].size(), size_t{1});
    QVERIFY(a["probe"].contains("sr"));

    p["adaptation"]["languages"] = {"xx"};
    const fs::path bad = root() / "bad-adaptation.dmoe.json";
    test::writeText(bad, p.dump(2));
    r = test::runCli({"adapt", bad.string()}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("/adaptation/languages/0") != std::string::npos, r.err.c_str());
    QVERIFY2(r.err.find("el, sr") != std::string::npos, r.err.c_str());
  }

  // Adaptation checkpoints every checkpoint_every steps, keeps the newest
  // checkpoints_kept, and an interrupted adaptation resumes from its newest
  // checkpoint to the same model, bit for bit.
  void adaptationCheckpointsAndResumesExactly() {
    Json p = Json::parse(test::readText(project_));
    p["adaptation"]["checkpoint_every"] = 1;  // 5 steps: checkpoints 1…5, of which the newest 2 stay
    p["checkpoints_kept"] = 2;
    test::writeText(project_, p.dump(2));
    auto r = test::runCli({"adapt", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const fs::path dir = runs() / "adapt";
    QCOMPARE(Trainer::completeCheckpoints(dir / "train"),
             (std::vector<fs::path>{dir / "train/checkpoints/step-5", dir / "train/checkpoints/step-4"}));
    QVERIFY(!fs::exists(dir / "train/checkpoints/step-3"));
    std::map<std::string, torch::Tensor> uninterrupted;
    {
      CheckpointTensors model = CheckpointTensors::open(dir / "model");
      for (const std::string& name : model.names()) uninterrupted[name] = model.tensor(name);
    }

    // Killed after step 4's checkpoint: no step 5, no outputs, no manifest.
    fs::remove(dir / "manifest.json");
    fs::remove(dir / "adaptation.json");
    fs::remove_all(dir / "model");
    fs::remove_all(dir / "train/checkpoints/step-5");
    r = test::runCli({"adapt", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY2(r.err.find("resumed at step 4") != std::string::npos, r.err.c_str());
    CheckpointTensors resumed = CheckpointTensors::open(dir / "model");
    QCOMPARE(resumed.names().size(), uninterrupted.size());
    for (const auto& [name, tensor] : uninterrupted) QVERIFY2(torch::equal(resumed.tensor(name), tensor), name.c_str());
  }

  // `--stationarity SLICE` measures r at the base on that slice and writes nothing;
  // on the continual slice it is the value the stage recorded. A deviation.json
  // from before the diagnostic gets it on the next (skipped) run, and the report follows.
  void stationarityAloneAndAddedToOlderFiles() {
    const Json recorded = Json::parse(test::readText(runs() / "deviation/deviation.json")).at("stationarity");
    const auto before = fs::last_write_time(runs() / "deviation/deviation.json");
    auto r = test::runCli({"deviation", "--stationarity", "continual", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    char expected[64];
    std::snprintf(expected, sizeof expected, "stationarity r = %f on the continual slice", recorded.at("r").get<double>());
    QVERIFY2(r.out.find(expected) != std::string::npos, (r.out + " / expected " + expected).c_str());
    r = test::runCli({"deviation", "--stationarity", "pretrain", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY2(r.out.find("on the pretrain slice") != std::string::npos, r.out.c_str());
    QVERIFY(fs::last_write_time(runs() / "deviation/deviation.json") == before);
    r = test::runCli({"deviation", "--stationarity", "heldout", project_.string()}, root());
    QVERIFY(r.exitCode != 0);

    Json older = Json::parse(test::readText(runs() / "deviation/deviation.json"));
    older.erase("stationarity");
    test::writeText(runs() / "deviation/deviation.json", older.dump(1));
    Json manifest = Json::parse(test::readText(runs() / "deviation/manifest.json"));
    manifest.erase("files");  // as old as the table: written before manifests recorded their files
    test::writeText(runs() / "deviation/manifest.json", manifest.dump(2));
    r = test::runCli({"report", project_.string()}, root());
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY(test::readText(runs() / "report/report.md").find("Stationarity") == std::string::npos);
    r = test::runCli({"--events", "jsonl", "run", "--from", "deviation", project_.string()}, root(), 180000);
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QCOMPARE(stageStatuses(r.out).at("deviation"), std::string("skipped"));
    QCOMPARE(stageStatuses(r.out).at("report"), std::string("done"));
    QCOMPARE(Json::parse(test::readText(runs() / "deviation/deviation.json")).at("stationarity").at("r"), recorded.at("r"));
    QVERIFY(test::readText(runs() / "report/report.md").find("Stationarity") != std::string::npos);
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
    // Non-expert tensors (SPEC 1.5): upcycling keeps the base's; Branch-Train-Mix
    // takes their mean over the G group fine-tunes, which all moved them.
    const std::string shared = "model.layers.0.self_attn.q_proj.weight";
    const torch::Tensor base = CheckpointTensors::open(runs() / "pretrain/model").tensor(shared);
    QVERIFY(torch::equal(CheckpointTensors::open(runs() / "merge/model").tensor(shared), base));
    const torch::Tensor mixed = CheckpointTensors::open(runs() / "baselines/branch-train-mix/merge/model").tensor(shared);
    QVERIFY2(!torch::equal(mixed, base), "Branch-Train-Mix kept the base's non-expert tensors");
    qInfo("Branch-Train-Mix: max |mean of the fine-tunes − base| of %s = %.3g", shared.c_str(),
          (mixed - base).abs().max().item<double>());
  }

  void badInputFailsWithExitCode2() {
    Json p = Json::parse(test::readText(project_));
    p["layer_selection"]["epsilon"] = 1.5;
    const fs::path bad = root() / "bad.dmoe.json";
    test::writeText(bad, p.dump(2));
    auto r = test::runCli({"select-layers", bad.string()}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("/layer_selection/epsilon") != std::string::npos, r.err.c_str());

    // A model this machine cannot hold: refused before anything is allocated, naming the settings.
    Json huge = Json::parse(test::readText(project_));
    huge["base_model"]["config"]["hidden_size"] = 1000000;
    huge["base_model"]["config"]["intermediate_size"] = 4000000;
    huge["runs_dir"] = "runs-huge";
    const fs::path hugeFile = root() / "huge.dmoe.json";
    test::writeText(hugeFile, huge.dump(2));
    r = test::runCli({"run", hugeFile.string(), "--until", "pretrain"}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("/base_model/config (hidden_size 1000000, intermediate_size 4000000") != std::string::npos &&
                 r.err.find("GiB to train") != std::string::npos,
             r.err.c_str());
    QVERIFY(!fs::exists(root() / "runs-huge/pretrain"));  // refused before the stage's folder is made

    // A hand-edited groups.json that leaves a language out: merge refuses it, naming the language.
    const std::string groupsText = test::readText(runs() / "group/groups.json");
    Json groups = Json::parse(groupsText);
    const std::string dropped = groups["groups"][0]["languages"][0];
    groups["groups"][0]["languages"].erase(0);
    test::writeText(runs() / "group/groups.json", groups.dump(2));
    r = test::runCli({"merge", project_.string()}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("/groups: languages in no group: " + dropped) != std::string::npos, r.err.c_str());

    // A damaged upstream artifact: the error names the file and where it breaks.
    test::writeText(runs() / "group/groups.json", "{\"method\": \"maximin\", ");
    r = test::runCli({"merge", project_.string()}, root());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("group/groups.json:1:") != std::string::npos && r.err.find(": not valid JSON at byte") != std::string::npos,
             r.err.c_str());
  }

  // The GUI's Cancel: SIGTERM once the run reports its first step; exit 143,
  // status "cancelled", a complete checkpoint; the same command resumes from it.
  void cancelledTrainingStopsWithACheckpointAndTheSameCommandResumes() {
    const fs::path dir = root() / "cancel";
    const fs::path project = test::writeMicroProject(dir);
    Json p = Json::parse(test::readText(project));
    p["base_model"]["pretrain"]["steps"] = 150;
    test::writeText(project, p.dump(2));
    const std::vector<std::string> args{"--events", "jsonl", "run", project.string(), "--until", "pretrain"};

    QProcess process;
    process.setWorkingDirectory(QString::fromStdString(dir.string()));
    QStringList list;
    for (const std::string& a : args) list << QString::fromStdString(a);
    process.start(QString::fromStdString(test::cliPath().string()), list);
    QVERIFY(process.waitForStarted());
    std::string out;
    bool terminated = false;
    QElapsedTimer timer;
    timer.start();
    while (!terminated && process.state() != QProcess::NotRunning && timer.elapsed() < 120000) {
      process.waitForReadyRead(1000);
      while (!terminated && process.canReadLine()) {
        const std::string line = process.readLine().toStdString();
        out += line;
        if (Json::parse(line)["event"] == "metrics") {
          process.terminate();
          terminated = true;
        }
      }
    }
    QVERIFY2(terminated, ("no metrics event before the run ended:\n" + out).c_str());
    QVERIFY(process.waitForFinished(30000));
    out += process.readAllStandardOutput().toStdString();
    QCOMPARE(process.exitStatus(), QProcess::NormalExit);
    QVERIFY2(process.exitCode() == 143, (std::to_string(process.exitCode()) + "\n" + out).c_str());
    QCOMPARE(stageStatuses(out).at("pretrain"), std::string("cancelled"));
    const Json last = Json::parse(out.substr(out.rfind('\n', out.size() - 2) + 1));  // "cancelled by signal 15"
    QVERIFY2(last.at("message").get<std::string>().find("cancelled by signal 15") != std::string::npos, last.dump().c_str());
    QVERIFY2(last.at("t").get<double>() > 0, last.dump().c_str());  // the command's time, not a fresh clock's
    const fs::path checkpoint = Trainer::latestCheckpoint(runs(dir) / "pretrain");
    QVERIFY2(!checkpoint.empty(), out.c_str());
    const std::int64_t step = std::stoll(checkpoint.filename().string().substr(5));  // step-N
    QVERIFY2(step > 0 && step < 150, checkpoint.c_str());
    qInfo("SIGTERM after the first metrics event: pretraining stopped at step %lld of 150", static_cast<long long>(step));
    QVERIFY(fs::exists(checkpoint / "model.pt") && fs::exists(checkpoint / "optimizer.pt"));

    auto again = test::runCli(args, dir);
    QVERIFY2(again.exitCode == 0, again.err.c_str());
    QCOMPARE(stageStatuses(again.out).at("pretrain"), std::string("done"));
    std::int64_t resumedFrom = -1;
    std::istringstream lines(again.out);
    for (std::string line; std::getline(lines, line);) {
      const Json e = Json::parse(line);
      if (e["event"] == "result" && e["name"] == "pretrain") resumedFrom = e["data"]["resumed_from"].get<std::int64_t>();
    }
    QCOMPARE(resumedFrom, step);
    QVERIFY(fs::exists(runs(dir) / "pretrain/checkpoints/step-150/complete"));

    // No trained DMoE here: `dmoe probe` says which folder is missing and what makes it.
    auto probe = test::runCli({"probe", project.string()}, dir);
    QCOMPARE(probe.exitCode, 2);
    QVERIFY2(probe.err.find((runs(dir) / "train").string()) != std::string::npos &&
                 probe.err.find("dmoe train") != std::string::npos,
             probe.err.c_str());
  }

 private:
  static fs::path runs(const fs::path& projectDir) { return projectDir / "runs"; }
  fs::path root() const { return fs::path(dir_.path().toStdString()); }
  fs::path runs() const { return root() / "runs"; }
  QTemporaryDir dir_;
  fs::path project_;
};

QTEST_GUILESS_MAIN(TestPipeline)
#include "test_pipeline.moc"
