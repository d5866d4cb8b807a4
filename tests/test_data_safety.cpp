// Nothing the user owns is ever deleted or changed. A fixture folder holds a
// user's files in every place a user might put them — the project's folder,
// the corpus, the runs folder's parent, the runs folder they made (and,
// once dmoe uses it, beside its stage folders), an export target — and each
// command that writes (`run` with every stage, `run --force`, `export`,
// `project new`, `corpus stats`, `corpus scan`) runs through the real CLI;
// every user file's hash before and after must agree. Then the places dmoe
// must refuse: a runs_dir that is "/", the project's folder, the corpus
// folder, one above them or inside the corpus, a non-empty folder dmoe did
// not make, a stage folder it did not make; an export into a folder that is
// not an earlier export; a UDHR import over the user's own corpus file. An export killed at any moment leaves the old export
// or the new one, never a mix, and the next export clears the killed one's
// staging folder. The rules themselves (runs_place.h, owned_paths.h) are
// checked directly with hand-made folders.
#include <QElapsedTimer>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <map>
#include <set>

#include <unistd.h>

#include "micro_project.h"
#include "project/runs_place.h"
#include "test_support.h"
#include "util/hash.h"
#include "util/owned_paths.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

using Hashes = std::map<std::string, std::string>;  // path relative to the fixture → FNV-1a

// Every regular file under `dir` (links not followed), by relative path.
Hashes hashTree(const fs::path& dir, const fs::path& relativeTo) {
  Hashes hashes;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file() && !it->is_symlink())
      hashes[it->path().lexically_relative(relativeTo).generic_string()] = Hasher().addFile(it->path()).hex();
  return hashes;
}

// The entries of `before` that are missing or differ in `now`, one per line ("" when none).
std::string changes(const Hashes& before, const Hashes& now) {
  std::string out;
  for (const auto& [path, hash] : before) {
    auto it = now.find(path);
    if (it == now.end() || it->second == "(missing)") out += "deleted: " + path + "\n";
    else if (it->second != hash) out += "changed: " + path + "\n";
  }
  return out;
}

std::string describe(const test::CliResult& r) {
  return "exit " + std::to_string(r.exitCode) + "\n" + r.err + r.out;
}

}  // namespace

class TestDataSafety : public QObject {
  Q_OBJECT

  QTemporaryDir tmp_;
  fs::path root() const { return fs::path(tmp_.path().toStdString()); }
  fs::path lab() const { return root() / "lab"; }
  fs::path runs() const { return lab() / "work" / "runs"; }
  fs::path project_;

  // The user's own files: every file written here by the test as the user.
  std::set<std::string> userFiles_;

  void writeUserFile(const fs::path& file, const std::string& text) {
    test::writeText(file, text);
    userFiles_.insert(file.lexically_relative(root()).generic_string());
  }
  Hashes userHashes() const {
    Hashes all;
    for (const std::string& path : userFiles_)
      if (fs::exists(root() / path)) all[path] = Hasher().addFile(root() / path).hex();
      else all[path] = "(missing)";
    return all;
  }

  // Runs `dmoe args…` in the project's folder and fails the test when any user file changed.
  test::CliResult runChecked(const std::vector<std::string>& args, int timeoutMs = 240000) {
    const Hashes before = userHashes();
    test::CliResult r = test::runCli(args, lab(), timeoutMs);
    const std::string changed = changes(before, userHashes());
    if (!changed.empty()) qWarning("dmoe %s changed the user's files:\n%s", args.front().c_str(), changed.c_str());
    userFilesIntact_ = userFilesIntact_ && changed.empty();
    return r;
  }
  bool userFilesIntact_ = true;

  // A copy of the micro project beside it, as `name`, with `patch` merged in.
  fs::path variant(const std::string& name, const Json& patch) {
    Json project = Json::parse(test::readText(project_));
    project.merge_patch(patch);
    const fs::path file = lab() / name;
    writeUserFile(file, project.dump(2));
    return file;
  }

 private slots:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    project_ = test::writeMicroProject(lab(), Json{{"runs_dir", "work/runs"}});
    userFiles_.insert(project_.lexically_relative(root()).generic_string());
    for (const auto& [path, hash] : hashTree(lab() / "corpus", root())) userFiles_.insert(path);
    writeUserFile(lab() / "notes.md", "the project's folder");
    writeUserFile(lab() / "corpus" / "README.txt", "where the corpus came from");
    writeUserFile(lab() / "corpus" / "drafts" / "en.jsonl", "{\"text\": \"a draft\"}\n");
    writeUserFile(lab() / "work" / "parent-notes.md", "the runs folder's parent");
    writeUserFile(root() / "deviation" / "notes.md", "a folder named like a stage, two levels up");
    fs::create_directories(runs());  // made by the user, empty: dmoe may take it
    for (const char* file : {"model-00001-of-00002.safetensors", "model.safetensors.index.json", "README.md"})
      writeUserFile(lab() / "exports" / "hf" / file, std::string("the user's ") + file);
  }

  // Every writing command, in the order a user would run them; after each,
  // every user file is as it was.
  void everyWritingCommandLeavesTheUsersFilesAlone() {
    auto r = runChecked({"corpus", "scan", "corpus"});
    QVERIFY2(r.exitCode == 0, describe(r).c_str());
    r = runChecked({"run", project_.string()});
    QVERIFY2(r.exitCode == 0, describe(r).c_str());

    // The user's files beside the stage folders, and one named like a stage's temporary.
    writeUserFile(runs() / "notes.md", "beside the stage folders");
    writeUserFile(runs() / "thesis.tmp-2024", "named like a temporary");
    writeUserFile(runs() / "mine" / "data.txt", "a folder of the user's in the runs folder");
    r = runChecked({"run", "--force", project_.string()});
    QVERIFY2(r.exitCode == 0, describe(r).c_str());
    r = runChecked({"corpus", "stats", project_.string()});
    QVERIFY2(r.exitCode == 0, describe(r).c_str());

    // Export: refused into a folder dmoe did not write, kept whole with --force.
    const fs::path model = runs() / "train" / "model";
    QVERIFY(fs::is_directory(model));
    r = runChecked({"export", model.string(), "exports/hf"});
    QCOMPARE(r.exitCode, 2);
    QVERIFY_CONTAINS(r.err, "is not empty and holds no earlier dmoe-workbench export");
    const Hashes theirs = hashTree(lab() / "exports" / "hf", lab() / "exports" / "hf");
    r = runChecked({"export", model.string(), "exports/fresh"});
    QVERIFY2(r.exitCode == 0, describe(r).c_str());
    r = runChecked({"export", model.string(), "exports/fresh"});  // an earlier export is replaced
    QVERIFY2(r.exitCode == 0, describe(r).c_str());
    // --force moves the user's folder aside whole; the moved files are the user's now at their new place.
    for (auto it = userFiles_.begin(); it != userFiles_.end();)
      it = it->rfind("lab/exports/hf/", 0) == 0 ? userFiles_.erase(it) : std::next(it);
    r = runChecked({"export", "--force", model.string(), "exports/hf"});
    QVERIFY2(r.exitCode == 0, describe(r).c_str());
    QVERIFY_CONTAINS(r.err, "kept whole as");
    QCOMPARE(hashTree(lab() / "exports" / "hf.before-dmoe-1", lab() / "exports" / "hf.before-dmoe-1"), theirs);
    QVERIFY(fs::is_regular_file(lab() / "exports" / "hf" / "model.safetensors"));
    QVERIFY(!fs::exists(lab() / "exports" / "hf" / "README.md"));

    // project new --force replaces a project file only.
    r = runChecked({"project", "new", "corpus/en.jsonl", "--corpus", "corpus", "--force"});
    QCOMPARE(r.exitCode, 2);
    r = runChecked({"project", "new", "notes.md", "--corpus", "corpus", "--force"});
    QCOMPARE(r.exitCode, 2);
    QVERIFY(userFilesIntact_);
    QVERIFY(fs::is_regular_file(runs() / kRunsMarker));
    QVERIFY(fs::is_regular_file(runs() / "pretrain" / kMadeMarker));
  }

  // runs_dir may not be where the user's files are: each refused at /runs_dir
  // by `project check` and by `run` (exit 2), nothing written or deleted.
  void aRunsFolderInThePlaceOfTheUsersFilesIsRefused() {
    fs::create_directories(root() / "elsewhere" / "runs" / "train");
    fs::copy(lab() / "corpus", root() / "elsewhere" / "runs" / "train", fs::copy_options::recursive);
    for (const auto& [path, hash] : hashTree(root() / "elsewhere", root())) userFiles_.insert(path);
    const std::vector<std::pair<Json, std::string>> cases = {
        {Json{{"runs_dir", "."}}, "is the project's folder"},
        {Json{{"runs_dir", ".."}}, "contains the project's folder"},
        {Json{{"runs_dir", "/"}}, "is the file system's root"},
        {Json{{"runs_dir", "corpus"}}, "is the corpus folder"},
        {Json{{"runs_dir", "corpus/runs"}}, "is inside the corpus folder"},
        {Json{{"runs_dir", "../elsewhere/runs"}, {"corpus", {{"root", "../elsewhere/runs/train"}}}}, "contains the corpus folder"},
        {Json{{"runs_dir", "notes.md"}}, "is a file"}};
    for (const auto& [patch, expected] : cases) {
      const fs::path file = variant("bad.dmoe.json", patch);
      auto r = runChecked({"project", "check", file.string()});
      QCOMPARE(r.exitCode, 2);
      QVERIFY_CONTAINS(r.err + r.out, "/runs_dir");
      QVERIFY_CONTAINS(r.err + r.out, expected);
      r = runChecked({"run", file.string(), "--until", "pretrain"});
      QVERIFY2(r.exitCode == 2, describe(r).c_str());
      QVERIFY_CONTAINS(r.err, expected);
    }
    QVERIFY(!fs::exists(lab() / "pretrain"));
    QVERIFY(!fs::exists(lab() / ".lock"));
    QVERIFY(userFilesIntact_);
  }

  // A non-empty folder dmoe did not make is not taken as a runs folder; a
  // stage folder in a runs folder that dmoe did not make is not cleared.
  void foldersDmoeDidNotMakeAreNeverCleared() {
    writeUserFile(lab() / "mydata" / "results.csv", "1,2,3");
    auto r = runChecked({"run", variant("mine.dmoe.json", Json{{"runs_dir", "mydata"}}).string(), "--until", "corpus"});
    QCOMPARE(r.exitCode, 2);
    QVERIFY_CONTAINS(r.err, "is not empty and is not a runs folder of dmoe-workbench");
    QVERIFY(!fs::exists(lab() / "mydata" / ".lock"));

    const fs::path second = variant("second.dmoe.json", Json{{"runs_dir", "work/second"}});
    r = runChecked({"run", second.string(), "--until", "corpus"});
    QVERIFY2(r.exitCode == 0, describe(r).c_str());
    writeUserFile(lab() / "work" / "second" / "pretrain" / "notes.md", "put where a stage will write");
    r = runChecked({"run", second.string(), "--until", "pretrain"});
    QCOMPARE(r.exitCode, 2);
    QVERIFY_CONTAINS(r.err, "was not made by dmoe-workbench");
    QVERIFY(userFilesIntact_);
  }

  // The UDHR import writes a corpus file only when absent or its own (.import.json records it).
  void theCorpusImportNeverOverwritesTheUsersCorpus() {
    const fs::path dir = root() / "udhr";
    writeUserFile(dir / "corpus" / "xmp.jsonl", "{\"text\": \"my own corpus of xmp\"}\n");
    test::writeText(dir / "p.dmoe.json", Json::parse(R"({
      "format": "dmoe-project/1", "name": "udhr-fixture",
      "languages": [{"id": "xmp"}, {"id": "ymp"}], "new_languages": [{"id": "zmp"}],
      "corpus": {"root": "corpus", "source": {"kind": "udhr"}}, "grouping": {"groups": 2}, "runs_dir": "runs"
    })").dump(2));
    const std::string package = (test::sourceDir() / "tests" / "fixtures" / "corpus" / "udhr").string();
    for (const char* force : {"", "--force"}) {
      std::vector<std::string> args{"corpus", "import-udhr", (dir / "p.dmoe.json").string(), "--udhr-dir", package};
      if (*force) args.push_back(force);
      auto r = runChecked(args);
      QCOMPARE(r.exitCode, 2);
      QVERIFY_CONTAINS(r.err, (dir / "corpus" / "xmp.jsonl").string() + " exists and was not written by the UDHR import");
    }
    fs::rename(dir / "corpus" / "xmp.jsonl", dir / "xmp-mine.jsonl");
    userFiles_.erase((dir / "corpus" / "xmp.jsonl").lexically_relative(root()).generic_string());
    userFiles_.insert((dir / "xmp-mine.jsonl").lexically_relative(root()).generic_string());
    auto r = runChecked({"corpus", "import-udhr", (dir / "p.dmoe.json").string(), "--udhr-dir", package});
    QVERIFY2(r.exitCode == 0, describe(r).c_str());
    r = runChecked({"corpus", "import-udhr", (dir / "p.dmoe.json").string(), "--udhr-dir", package, "--force"});
    QVERIFY2(r.exitCode == 0, describe(r).c_str());  // its own files: rewritten
    QVERIFY(userFilesIntact_);
  }

  // An export killed at any moment leaves the old export or the new one
  // (same files, same bytes), never a mix; the next export removes the
  // killed one's staging folder (marked, of a dead process) and nothing else.
  void anExportKilledAtAnyMomentLeavesTheOldOrTheNew() {
    const fs::path model = runs() / "train" / "model";
    QVERIFY(fs::is_directory(model));
    const fs::path exports = lab() / "kill";
    auto r = test::runCli({"export", "--shard-mb", "0", model.string(), (exports / "sharded").string()}, lab());
    QVERIFY2(r.exitCode == 0, describe(r).c_str());
    r = test::runCli({"export", model.string(), (exports / "single").string()}, lab());
    QVERIFY2(r.exitCode == 0, describe(r).c_str());
    const Hashes sharded = hashTree(exports / "sharded", exports / "sharded"),
                 single = hashTree(exports / "single", exports / "single");
    QVERIFY(sharded.count("model.safetensors.index.json") && single.count("model.safetensors"));
    writeUserFile(exports / ".dmoe-tmp-4194303-target" / "mine.txt", "unmarked: the user's, whatever its name");

    const fs::path target = exports / "target";
    QElapsedTimer timer;  // how long one export takes here: the kills spread over it
    timer.start();
    r = test::runCli({"export", model.string(), (exports / "timed").string()}, lab());
    QVERIFY2(r.exitCode == 0, describe(r).c_str());
    const double exportMs = static_cast<double>(timer.elapsed());
    int sawOld = 0, sawNew = 0;
    for (double share : {0.1, 0.4, 0.6, 0.75, 0.85, 0.95, 1.05}) {
      const int delayMs = static_cast<int>(share * exportMs);
      r = test::runCli({"export", "--shard-mb", "0", model.string(), target.string()}, lab());
      QVERIFY2(r.exitCode == 0, describe(r).c_str());
      QProcess p;
      p.setWorkingDirectory(QString::fromStdString(lab().string()));
      p.start(QString::fromStdString(test::cliPath().string()),
              {"export", QString::fromStdString(model.string()), QString::fromStdString(target.string())});
      QVERIFY(p.waitForStarted());
      QTest::qWait(delayMs);
      p.kill();
      p.waitForFinished();
      const Hashes now = hashTree(target, target);
      QVERIFY2(now == sharded || now == single,
               ("killed after " + std::to_string(delayMs) + " ms: a mixed folder:\n" + changes(sharded, now)).c_str());
      (now == sharded ? sawOld : sawNew)++;
    }
    qInfo("an export takes %.0f ms; killed exports: %d left the old one, %d the new one", exportMs, sawOld, sawNew);
    // A staging folder the killed export left is removed by the next export, the user's look-alike is not.
    r = runChecked({"export", model.string(), target.string()});
    QVERIFY2(r.exitCode == 0, describe(r).c_str());
    for (const fs::directory_entry& e : fs::directory_iterator(exports))
      QVERIFY2(!isScratchName(e.path().filename().string()) || e.path().filename() == ".dmoe-tmp-4194303-target",
               e.path().c_str());
    QVERIFY(userFilesIntact_);
  }

  // The place rules on their own, with hand-made paths (nothing on disk is needed but a file).
  void runsPlaceRules() {
    const fs::path p = root() / "rules" / "project", home = root() / "rules" / "home";
    fs::create_directories(p);
    test::writeText(p / "a-file", "x");
    auto problems = [&](const fs::path& runsDir, const fs::path& corpus, bool imported = false) {
      std::vector<Problem> errors;
      checkRunsFolderPlace(runsDir, p, corpus, imported, home, errors);
      std::string text;
      for (const Problem& e : errors) text += e.where + ": " + e.message + "\n";
      return text;
    };
    QCOMPARE(problems(p / "runs" / "x", p / "corpus"), std::string());
    QCOMPARE(problems(root() / "rules" / "runs", p / "corpus"), std::string());  // beside the project: fine
    QVERIFY_CONTAINS(problems(p, p / "corpus"), "/runs_dir: runs folder " + p.string() + " is the project's folder");
    QVERIFY_CONTAINS(problems(p / "runs" / "..", p / "corpus"), "is the project's folder");
    QVERIFY_CONTAINS(problems(root(), p / "corpus"), "contains the project's folder");
    QVERIFY_CONTAINS(problems("/", p / "corpus"), "is the file system's root");
    QVERIFY_CONTAINS(problems(home, p / "corpus"), "is the home folder");
    QVERIFY_CONTAINS(problems(p / "data", p / "data" / "corpus"), "contains the corpus folder");
    // An imported corpus is dmoe's to write: the demos keep it in <runs>/corpus.
    QCOMPARE(problems(p / "data", p / "data" / "corpus", /*imported=*/true), std::string());
    QVERIFY_CONTAINS(problems(p / "corpus", p / "corpus", /*imported=*/true), "is the corpus folder");
    QVERIFY_CONTAINS(problems(p / "corpus", p / "corpus"), "is the corpus folder");
    QVERIFY_CONTAINS(problems(p / "corpus" / "runs", p / "corpus"), "is inside the corpus folder");
    QVERIFY_CONTAINS(problems(p / "a-file", p / "corpus"), "is a file");
  }

  // Ownership on hand-made folders: scratch names, what removeMade refuses,
  // clearing, and replacing (exchange, refusal, set aside).
  void ownershipRules() {
    long pid = 0;
    QVERIFY(isScratchName(".dmoe-tmp-123-model", &pid));
    QCOMPARE(pid, 123L);
    for (const char* name : {"thesis.tmp-2024", ".dmoe-tmp--x", ".dmoe-tmp-12", ".dmoe-tmp-12-", ".dmoe-tmp-1a-x", "model.tmp-123"})
      QVERIFY2(!isScratchName(name), name);
    QCOMPARE(scratchPath("/a/b/out/").string(), "/a/b/.dmoe-tmp-" + std::to_string(::getpid()) + "-out");
    QVERIFY(processAlive(::getpid()));
    QVERIFY(!processAlive(4194303));

    const fs::path base = root() / "own";
    test::writeText(base / "user" / "data.txt", "mine");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { removeMade(base / "user" / "data.txt"); }), "refusing to delete");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { removeMade(base / "user"); }), "refusing to delete");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { clearMadeFolder(base / "user", "stage"); }), "was not made by dmoe-workbench");
    QCOMPARE(test::readText(base / "user" / "data.txt"), std::string("mine"));

    QVERIFY(!clearMadeFolder(base / "stage", "stage"));  // new: made and marked
    test::writeText(base / "stage" / "out.json", "{}");
    QVERIFY(clearMadeFolder(base / "stage", "stage"));
    QVERIFY(fs::is_empty(base / "stage") == false && !fs::exists(base / "stage" / "out.json"));
    QVERIFY(isMade(base / "stage", "stage"));
    test::writeText(base / "legacy" / "inputs.json", "{}");  // a stage folder of an earlier version
    QVERIFY(clearMadeFolder(base / "legacy", "stage"));

    // replaceFolder: absent → rename; marked → exchange; foreign → refused or set aside.
    auto staged = [&](const std::string& text) {
      const fs::path s = scratchPath(base / "out");
      markMade(s, "export");
      test::writeText(s / "weights", text);
      return s;
    };
    QVERIFY(!replaceFolder(staged("one"), base / "out", "export"));
    QVERIFY(!replaceFolder(staged("two"), base / "out", "export"));
    QCOMPARE(test::readText(base / "out" / "weights"), std::string("two"));
    QVERIFY(!fs::exists(scratchPath(base / "out")));
    QVERIFY_CONTAINS(test::inputErrorOf([&] { replaceFolder(staged("three"), base / "user", "export"); }),
                     "is not empty and holds no earlier dmoe-workbench export");
    const auto aside = replaceFolder(scratchPath(base / "out"), base / "user", "export", true);
    QVERIFY(aside && *aside == base / "user.before-dmoe-1");
    QCOMPARE(test::readText(base / "user.before-dmoe-1" / "data.txt"), std::string("mine"));
    QCOMPARE(test::readText(base / "user" / "weights"), std::string("three"));
    // A stage folder is not an export: an export does not replace it without --force.
    QVERIFY(!replaceable(base / "stage", "export"));
  }
};

QTEST_GUILESS_MAIN(TestDataSafety)
#include "test_data_safety.moc"
