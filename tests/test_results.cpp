// The result files' formats and readers (core/results/), linked against the
// torch-free dmoe_common alone — what the GUI links. Hand-written files and
// the paths of the runs folder, checked value by value; every reader names
// the file and the JSON path of what is wrong, and tells which command makes
// a missing file.
#include <QtTest>
#include <cmath>
#include <limits>

#include "results/adaptation_file.h"
#include "results/deviation_file.h"
#include "results/probe_file.h"
#include "results/routing_file.h"
#include "results/groups_file.h"
#include "results/run_layout.h"
#include "results/selection_file.h"
#include "results/similarity_file.h"
#include "test_support.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace dmoe;

class ResultsTest : public QObject {
  Q_OBJECT

 private slots:
  void runLayoutSpellsEveryPathOnce() {
    const RunLayout runs("/r");
    QCOMPARE(runs.deviationFile().generic_string(), std::string("/r/deviation/deviation.json"));
    QCOMPARE(runs.selectionFile().generic_string(), std::string("/r/select-layers/selection.json"));
    QCOMPARE(runs.similarityFile().generic_string(), std::string("/r/similarity/similarity.json"));
    QCOMPARE(runs.similarityCsvFile().generic_string(), std::string("/r/similarity/similarity.csv"));
    QCOMPARE(runs.groupsFile().generic_string(), std::string("/r/group/groups.json"));
    QCOMPARE(runs.probeFile().generic_string(), std::string("/r/probe/probe.json"));
    QCOMPARE(runs.adaptationFile().generic_string(), std::string("/r/adapt/adaptation.json"));
    QCOMPARE(runs.reportFile().generic_string(), std::string("/r/report/report.md"));
    QCOMPARE(runs.corpusStatsFile().generic_string(), std::string("/r/corpus/stats.json"));
    QCOMPARE(runs.tokensDir("fr").generic_string(), std::string("/r/tokens/fr"));
    QCOMPARE(RunLayout::modelIn(runs.trainDir()).generic_string(), std::string("/r/train/model"));
    QCOMPARE(RunLayout::perplexityIn(RunLayout(runs.baselineDir(RunLayout::kDenseContinue)).evalDir()).generic_string(),
             std::string("/r/baselines/dense-continue/eval/perplexity.json"));
    QCOMPARE(runs.baselineDir(RunLayout::kRandomGroups).generic_string(), std::string("/r/baselines/random-groups"));
    QCOMPARE(runs.baselineDir(RunLayout::kBranchTrainMix).generic_string(), std::string("/r/baselines/branch-train-mix"));
    QCOMPARE(RunLayout::trainingStageIn(runs.trainDir(), 2).generic_string(), std::string("/r/train/stage2"));
    // Over an empty root: the run ids the Runs view shows.
    QCOMPARE(RunLayout::trainingStageIn(RunLayout(fs::path()).trainDir(), 1).generic_string(), std::string("train/stage1"));
  }

  // The files the probe and adapt stages write go through these structs, so
  // a read of a written file gives it back key for key (null where no number).
  void probeAndAdaptationRoundTrip() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    const Json probe = Json::parse(R"({"model": "abc", "experts": [["fra", "ita"], ["rus"]],
      "languages": {"bel": {"ppl_per_expert": [40.5, 12.25], "best_expert": 1, "documents": 6},
                    "mal": {"ppl_per_expert": [30.0, 31.0], "best_expert": 0, "documents": 5}}})");
    test::writeText(dir / "probe.json", probe.dump());
    const ProbeTable table = ProbeTable::read(dir / "probe.json");
    QCOMPARE(table.rows.at(0).language, std::string("bel"));
    QCOMPARE(table.rows.at(0).best, std::int64_t{1});
    QCOMPARE(table.toJson().dump(), probe.dump());

    const Json adaptation = Json::parse(R"({"probe": {"bel": {"ppl_per_expert": [40.5, 12.25], "best_expert": 1, "documents": 6}},
      "new_experts": [{"expert": 2, "copied_from": 1, "languages": ["bel"],
                       "router_row_max_abs_diff_from_source": 0.125, "learned_router_top1_share": {"bel": 0.75}}],
      "frozen_tensors_checked": 12, "frozen_bit_identical": true, "old_hard_ppl_unchanged": true, "final_loss": 3.5,
      "languages": [{"language": "fra", "label": "fr", "new": false, "hard_before": 10.0, "hard_after": 10.0,
                     "soft_before": 11.0, "soft_after": 11.5},
                    {"language": "bel", "label": "be", "new": true, "hard_before": null, "hard_after": 20.0,
                     "soft_before": 40.0, "soft_after": 25.0}],
      "soft_average_before": 11.0, "soft_average_after": 11.5, "new_soft_average_before": 40.0,
      "new_soft_average_after": 25.0, "new_hard_average_after": 20.0})");
    test::writeText(dir / "adaptation.json", adaptation.dump());
    const AdaptationResult a = AdaptationResult::read(dir / "adaptation.json");
    QVERIFY(std::isnan(a.rows.at(1).hardBefore));
    QCOMPARE(a.newExperts.at(0).top1Share.at(0), (std::pair<std::string, double>("bel", 0.75)));
    QCOMPARE(a.probe.at(0).ppl.at(1), 12.25);
    QCOMPARE(a.toJson().dump(), adaptation.dump());

    Json bad = adaptation;
    bad["probe"]["bel"]["best_expert"] = 2;
    test::writeText(dir / "bad.json", bad.dump());
    QVERIFY_CONTAINS(test::inputErrorOf([&] { AdaptationResult::read(dir / "bad.json"); }),
                     "bad.json: /probe/bel/best_expert: expected an expert below 2");
  }

  void selectionRoundTripsAndNamesProblems() {
    const Json file = Json::parse(R"({"scores": [1.0, 2.0, 2.5], "normalized": [0.0, 0.666, 1.0], "epsilon": 0.6,
      "mode": "threshold", "layers": [1, 2], "hidden_size": 64, "parameters": {"base": 1000, "ffn_per_layer": 100}})");
    const LayerSelection s = LayerSelection::fromJson(file, "selection.json");
    QCOMPARE(s.layers, (std::vector<std::int64_t>{1, 2}));
    QCOMPARE(s.hiddenSize, std::int64_t{64});
    QCOMPARE(s.baseParameters, std::int64_t{1000});
    QCOMPARE(s.ffnParameters, std::int64_t{100});
    QCOMPARE(s.toJson().dump(), file.dump());  // the stage's file, key for key

    Json bad = file;
    bad["layers"] = {1, 3};
    QVERIFY_CONTAINS(test::inputErrorOf([&] { LayerSelection::fromJson(bad, "s.json"); }), "s.json: /layers/1: expected a layer below 3");
    bad = file;
    bad["mode"] = "all";
    QVERIFY_CONTAINS(test::inputErrorOf([&] { LayerSelection::fromJson(bad, "s.json"); }), "s.json: /mode: expected \"threshold\"");
    bad = file;
    bad["parameters"].erase("ffn_per_layer");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { LayerSelection::fromJson(bad, "s.json"); }),
                     "s.json: /parameters/ffn_per_layer: expected a value (it is missing)");
    QVERIFY_CONTAINS(test::inputErrorOf([] { LayerSelection::read("/nowhere/selection.json"); }),
                     "/nowhere/selection.json is missing: run `dmoe select-layers` first");
  }

  void groupsRoundTripAndExpertOf() {
    const Json file = Json::parse(R"({"method": "maximin-exhaustive", "method_used": "maximin-greedy", "groups": [
      {"expert": 0, "languages": ["de", "nl"], "min_similarity": 0.4},
      {"expert": 1, "languages": ["ja"], "min_similarity": null}]})");
    const LanguageGroups g = LanguageGroups::fromJson(file, "groups.json");
    QCOMPARE(g.methodUsed, std::string("maximin-greedy"));
    QCOMPARE(g.expertOf("nl"), std::int64_t{0});
    QCOMPARE(g.expertOf("ja"), std::int64_t{1});
    QCOMPARE(g.expertOf("fr"), std::int64_t{-1});
    QCOMPARE(g.minSimilarity[0], 0.4);
    QVERIFY(std::isnan(g.minSimilarity[1]));  // null: no pair in a one-language group
    QCOMPARE(g.toJson().dump(), file.dump());

    Json bad = file;
    bad["groups"][1]["expert"] = 5;
    QVERIFY_CONTAINS(test::inputErrorOf([&] { LanguageGroups::fromJson(bad, "g.json"); }), "g.json: /groups/1/expert: expected 1");
    bad = file;
    bad["groups"][0]["languages"][1] = 7;
    QVERIFY_CONTAINS(test::inputErrorOf([&] { LanguageGroups::fromJson(bad, "g.json"); }),
                     "g.json: /groups/0/languages/1: expected a string");
    QVERIFY_CONTAINS(test::inputErrorOf([] { LanguageGroups::read("/nowhere/groups.json"); }), "run `dmoe group` first");
  }

  // A hand-edited groups.json that leaves a language out (or lists one twice, or
  // a stranger) is refused with every problem's path before merge uses it.
  void groupsThatAreNoPartitionAreRefused() {
    QTemporaryDir tmp;
    const fs::path file = fs::path(tmp.path().toStdString()) / "groups.json";
    const std::vector<std::string> languages{"de", "nl", "ja", "ko"};
    auto write = [&](const char* groups) {
      test::writeText(file, std::string(R"({"method": "manual", "groups": )") + groups + "}");
    };
    write(R"([{"languages": ["de", "nl"], "min_similarity": 0.4}, {"languages": ["ja", "ko"], "min_similarity": 0.2}])");
    QCOMPARE(LanguageGroups::readPartition(file, languages).expertOf("ko"), std::int64_t{1});

    write(R"([{"languages": ["de", "nl"], "min_similarity": 0.4}, {"languages": ["ja"], "min_similarity": null}])");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { LanguageGroups::readPartition(file, languages); }),
                     "/groups: languages in no group: ko");
    write(R"([{"languages": ["de", "nl", "xx"], "min_similarity": 0.4}, {"languages": ["ja", "de", "ko"], "min_similarity": 0.2},
              {"languages": [], "min_similarity": null}])");
    const std::string error = test::inputErrorOf([&] { LanguageGroups::readPartition(file, languages); });
    QVERIFY_CONTAINS(error, "/groups/0/languages/2: 'xx' is not a training language");
    QVERIFY_CONTAINS(error, "/groups/1/languages/1: language 'de' is in two groups (also at /groups/0/languages/0)");
    QVERIFY_CONTAINS(error, "/groups/2/languages: group is empty");
    QVERIFY_CONTAINS(error, file.string() + " does not split");
    QVERIFY(error.find("in no group") == std::string::npos);
  }

  void routingTableRoundTripsAndChecksShapes() {
    const Json file = Json::parse(R"({"model": "m", "layers": [1, 3], "experts": [2, 3], "languages": ["fr", "ru"],
      "labels": ["fr", "ru"], "new": [false, true], "tokens": [4, 0],
      "top1": [[[0.75, 0.25], [0.0, 0.0]], [[0.5, 0.25, 0.25], [0.0, 0.0, 0.0]]],
      "probability": [[[0.6, 0.4], [0.0, 0.0]], [[0.4, 0.3, 0.3], [0.0, 0.0, 0.0]]]})");
    const RoutingTable t = RoutingTable::fromJson(file, "routing.json");
    QCOMPARE(t.top1[1][0][2], 0.25);
    QCOMPARE(t.isNew, (std::vector<bool>{false, true}));
    QCOMPARE(t.toJson().dump(), file.dump());
    Json bad = file;
    bad["top1"][1][0] = {0.5, 0.5};  // layer 3 has three experts
    QVERIFY_CONTAINS(test::inputErrorOf([&] { RoutingTable::fromJson(bad, "routing.json"); }),
                     "routing.json: /top1/1/0: expected");
    bad = file;
    bad["experts"] = {2};
    QVERIFY_CONTAINS(test::inputErrorOf([&] { RoutingTable::fromJson(bad, "routing.json"); }),
                     "routing.json: /experts: expected one expert count per MoE layer (2)");
    QVERIFY_CONTAINS(test::inputErrorOf([] { RoutingTable::read("/nowhere/routing.json"); }), "run `dmoe routing` first");

    Json classified = file;  // a classifier on layer 3 only
    classified["classifier_original"] = {nullptr, {0.5, 0.0}};
    const RoutingTable c = RoutingTable::fromJson(classified, "routing.json");
    QVERIFY(c.classifierOriginal[0].empty());
    QCOMPARE(c.classifierOriginal[1], (std::vector<double>{0.5, 0.0}));
    QCOMPARE(c.toJson().dump(), classified.dump());
    classified["classifier_original"] = {nullptr};
    QVERIFY_CONTAINS(test::inputErrorOf([&] { RoutingTable::fromJson(classified, "routing.json"); }),
                     "routing.json: /classifier_original: expected one entry");
    classified["classifier_original"] = {nullptr, {0.5}};
    QVERIFY_CONTAINS(test::inputErrorOf([&] { RoutingTable::fromJson(classified, "routing.json"); }),
                     "routing.json: /classifier_original/1: expected");
    classified["classifier_original"] = {nullptr, {0.5, 1.5}};
    QVERIFY_CONTAINS(test::inputErrorOf([&] { RoutingTable::fromJson(classified, "routing.json"); }),
                     "routing.json: /classifier_original/1/1: expected a share between 0 and 1");
  }

  // One routing file per model, named by its folder inside the runs folder;
  // an outside folder gets its name plus a hash of its path, so two outside
  // folders of one name never share a file. mixtureModelDirs offers the
  // "model" folders with a "dmoe" layout, not dense ones or checkpoints.
  void routingFilesAreNamedByTheirModel() {
    QTemporaryDir tmp;
    const fs::path root = fs::path(tmp.path().toStdString()), runs = root / "runs";
    QCOMPARE(routingFileFor(runs, runs / "train/model"), runs / "routing/train.json");
    QCOMPARE(routingFileFor(runs, runs / "layermoe/layer-wise/model"), runs / "routing/layermoe-layer-wise.json");
    QCOMPARE(routingFileFor(runs, runs / "baselines/random-groups/train/model/"),
             runs / "routing/baselines-random-groups-train.json");
    QCOMPARE(routingModelName(runs, runs / "adapt/model"), std::string("adapt/model"));
    const fs::path a = routingFileFor(runs, root / "one/model"), b = routingFileFor(runs, root / "two/model");
    QCOMPARE(a.parent_path(), runs / "routing");
    QVERIFY2(a.filename().string().rfind("external-model-", 0) == 0 && a.filename().string().size() == 28,
             a.string().c_str());
    QVERIFY(a != b);
    QCOMPARE(routingModelName(runs, root / "one/model"), (root / "one/model").string());

    const Json moe = {{"dmoe", {{"moe_layers", {1}}}}};
    test::writeText(runs / "train/model/config.json", moe.dump());
    test::writeText(runs / "layermoe/uniform/model/config.json", moe.dump());
    test::writeText(runs / "pretrain/model/config.json", "{}");                                  // dense
    test::writeText(runs / "train/stage2/checkpoints/step-4/model/config.json", moe.dump());     // a checkpoint
    test::writeText(runs / "adapt/model/config.json", "{not json");                              // unreadable
    QCOMPARE(mixtureModelDirs(runs), (std::vector<fs::path>{runs / "layermoe/uniform/model", runs / "train/model"}));
    QVERIFY(routingFiles(runs).empty());
    test::writeText(runs / "routing/train.json", "{}");
    test::writeText(runs / "routing/adapt.json", "{}");
    test::writeText(runs / "routing/notes.txt", "");
    QCOMPARE(routingFiles(runs), (std::vector<fs::path>{runs / "routing/adapt.json", runs / "routing/train.json"}));
  }

  // One wording of r for the report and the Deviation tab: rounded to two
  // decimals, the layers listed, the orthogonal reference when recorded.
  void stationarityReadingIsOneSentence() {
    DeviationTable::Stationarity s;
    s.r = 0.4251;
    s.orthogonal = 0.2349;
    s.layers = {1, 2};
    QCOMPARE(s.reading(), std::string("Stationarity of the base on the continual data: r = 0.43 (FFN gradients, layers 1, 2); "
                                      "independent, orthogonal pulls would give 0.23. Above that the languages' continual "
                                      "data pulls the base the same way; below it the pulls cancel and the deviations "
                                      "mostly measure competition between languages."));
    s.orthogonal = std::numeric_limits<double>::quiet_NaN();
    QVERIFY_CONTAINS(s.reading(), "r = 0.43 (FFN gradients, layers 1, 2); 1 = the continual data pulls");
    s.r = std::numeric_limits<double>::quiet_NaN();
    QCOMPARE(s.reading(), std::string());
  }

  void similarityDisplayFieldsAreOptionalButChecked() {
    SimilarityResult r;
    r.languages = {"a", "b", "c"};
    r.layers = {2};
    r.combined = {{1, 0.5, 0.1}, {0.5, 1, 0.2}, {0.1, 0.2, 1}};
    r.perLayer = {r.combined};
    Json json = r.toJson();
    QVERIFY(!json.contains("labels") && !json.contains("cluster_order") && !json.contains("dendrogram"));
    QCOMPARE(r.label(1), std::string("b"));

    // a–b join at distance 0.5, then c at the mean distance (0.9 + 0.8)/2 = 0.85: order a, b, c.
    r.labels = {"A", "B", "C"};
    r.clusterOrder = {0, 1, 2};
    r.dendrogram = {{0, 1, 0.5, 2}, {2, 3, 0.85, 3}};
    json = r.toJson();
    const std::vector<std::string> keys = {"method", "source", "languages", "layers", "matrix", "per_layer", "labels",
                                           "cluster_order", "dendrogram"};
    std::vector<std::string> written;
    for (const auto& [key, value] : json.items()) written.push_back(key);
    QCOMPARE(written, keys);  // the order the similarity stage has always written
    const SimilarityResult back = SimilarityResult::fromJson(json, "sim.json");
    QCOMPARE(back.label(2), std::string("C"));
    QCOMPARE(back.clusterOrder, r.clusterOrder);
    QCOMPARE(back.dendrogram.size(), size_t{2});
    QCOMPARE(back.dendrogram[1].right, 3);
    QCOMPARE(back.dendrogram[1].height, 0.85);
    QVERIFY(!back.sketch);

    Json bad = json;
    bad["dendrogram"][0]["right"] = 3;  // merge 0 may join only leaves 0..2
    QVERIFY_CONTAINS(test::inputErrorOf([&] { SimilarityResult::fromJson(bad, "sim.json"); }),
                     "sim.json: /dendrogram/0/right: expected a cluster below 3");
    bad = json;
    bad["labels"] = {"A"};
    QVERIFY_CONTAINS(test::inputErrorOf([&] { SimilarityResult::fromJson(bad, "sim.json"); }),
                     "sim.json: /labels: expected one label per language (3)");
    QVERIFY_CONTAINS(test::inputErrorOf([] { SimilarityResult::read("/nowhere/similarity.json"); }), "run `dmoe similarity` first");
    QVERIFY_CONTAINS(test::inputErrorOf([] { SimilarityResult::importFile("/nowhere/m.csv"); }), "/nowhere/m.csv: no such file");
  }

  void deviationStageLayoutKeepsTheStationarityRecord() {
    const Json file = Json::parse(R"({"languages": ["fr", "de"], "labels": ["French", "German"], "layers": 2,
      "modules": {"ffn": [[1, 2], [3, 4]], "attention": [[1, 1], [1, 1]], "norms": [[0, 0], [0, 0]], "all": [[2, 3], [4, 5]]},
      "stationarity": {"r": 0.31, "r_orthogonal": null, "layers": [1], "slice": "continual", "sampled_tokens": 512}})");
    const DeviationTable d = DeviationTable::fromJson(file, "deviation.json");
    QCOMPARE(d.labels, (std::vector<std::string>{"French", "German"}));
    QCOMPARE(d.modules.at("ffn")[1][0], 3.0);
    QVERIFY(d.stationarity.has_value());
    QCOMPARE(d.stationarity->r, 0.31);
    QVERIFY(std::isnan(d.stationarity->orthogonal));
    QCOMPARE(d.stationarity->record.at("sampled_tokens").get<int>(), 512);  // the whole object, for the report

    Json bad = file;
    bad["modules"]["norms"][1] = {0};
    QVERIFY_CONTAINS(test::inputErrorOf([&] { DeviationTable::fromJson(bad, "d.json"); }),
                     "d.json: /modules/norms/1: expected a list of 2 numbers");

    // The reference code's per-language layout: labels are the ids, no stationarity.
    const DeviationTable reference =
        DeviationTable::fromJson(Json::parse(R"({"ar": {"ffn": [1, 2]}, "he": {"ffn": [3, 4]}})"), "norms.json");
    QCOMPARE(reference.labels, (std::vector<std::string>{"ar", "he"}));
    QCOMPARE(reference.layers, std::int64_t{2});
    QVERIFY(!reference.stationarity);
    QVERIFY_CONTAINS(test::inputErrorOf([] { DeviationTable::read("/nowhere/deviation.json"); }), "run `dmoe deviation` first");
    QVERIFY_CONTAINS(test::inputErrorOf([] { DeviationTable::importFile("/nowhere/n.json"); }), "/nowhere/n.json: no such file");
  }
};

QTEST_GUILESS_MAIN(ResultsTest)
#include "test_results.moc"
