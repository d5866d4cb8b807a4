// The stage cache (stages/stage_folder.h): a stage of another runs folder with
// the same inputs is taken from the cache instead of computed, byte for byte
// (equal manifests, so equal downstream fingerprints); checkpoints and the
// record of a run in progress are not copied; a copy that computes again
// leaves the cache and its siblings as they were (hard links are never
// written through) and replaces the entry; a damaged entry is removed and the
// stage computes; other inputs, or another display context, compute; a folder
// the workbench did not make is refused, not overwritten, in the runs folder
// and in the cache; without a cache nothing is shared.
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "events/event_sink.h"
#include "stages/stage_folder.h"
#include "test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/owned_paths.h"

#include <QtTest>

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

// A stage whose compute writes an output, a training log and a checkpoint, and counts its calls.
struct CountingStage {
  int computed = 0;
  std::string content = "first";
  bool run(const fs::path& dir, const Json& inputs, bool force = false) {
    NullSink sink;
    Reporter reporter(sink, "test");
    return StageFolder(dir, inputs).run(force, reporter, "outputs", dir / "out.txt", [&] {
      ++computed;
      writeFileAtomic(dir / "out.txt", content);
      writeFileAtomic(dir / "run" / "metrics.jsonl", "{\"step\":1}\n");
      writeFileAtomic(dir / "run" / "checkpoints" / "step-1" / "state.bin", "resume state");
      return Json{{"n", 1}};
    });
  }
};

}  // namespace

class TestStageCache : public QObject {
  Q_OBJECT
  fs::path root_;

 private slots:
  void init() {
    root_ = test::outputDir() / "stage-cache";
    fs::remove_all(root_);
    StageFolder::setCache(root_ / "cache");
  }
  void cleanup() { StageFolder::setCache({}); }

  void aSecondFolderWithTheSameInputsIsRestoredNotComputed() {
    CountingStage stage;
    const Json inputs{{"steps", 10}};
    const fs::path a = root_ / "runs-a" / "pretrain", b = root_ / "runs-b" / "pretrain";
    QVERIFY(stage.run(a, inputs));
    QVERIFY(!stage.run(b, inputs));  // taken from the cache
    QCOMPARE(stage.computed, 1);
    QCOMPARE(test::readText(b / "out.txt"), std::string("first"));
    QCOMPARE(test::readText(b / "run" / "metrics.jsonl"), std::string("{\"step\":1}\n"));
    QCOMPARE(test::readText(b / "manifest.json"), test::readText(a / "manifest.json"));
    QCOMPARE(StageFolder::fingerprint(b, "x"), StageFolder::fingerprint(a, "x"));  // downstream stages match too
    QVERIFY(!fs::exists(b / "run" / "checkpoints"));
    QVERIFY(!fs::exists(b / "inputs.json"));  // a copy is not a run in progress
    QVERIFY(fs::exists(b / kMadeMarker));
    QVERIFY(!stage.run(b, inputs));  // and then simply up to date
    QCOMPARE(stage.computed, 1);

    // The copy computes again (forced): the cache entry and the first folder keep their bytes.
    stage.content = "second";
    QVERIFY(stage.run(b, inputs, /*force=*/true));
    QCOMPARE(test::readText(b / "out.txt"), std::string("second"));
    QCOMPARE(test::readText(a / "out.txt"), std::string("first"));
    // The entry is now the newest run of these inputs; the first folder's files are still its own.
    const fs::path c = root_ / "runs-c" / "pretrain";
    QVERIFY(!stage.run(c, inputs));
    QCOMPARE(test::readText(c / "out.txt"), std::string("second"));
    QCOMPARE(test::readText(a / "out.txt"), std::string("first"));
    QCOMPARE(stage.computed, 2);
  }

  void otherInputsCompute() {
    CountingStage stage;
    QVERIFY(stage.run(root_ / "runs-a" / "pretrain", Json{{"steps", 10}}));
    QVERIFY(stage.run(root_ / "runs-b" / "pretrain", Json{{"steps", 20}}));
    QVERIFY(stage.run(root_ / "runs-c" / "deviation", Json{{"steps", 10}}));  // another stage, equal inputs
    StageFolder::setCache(root_ / "cache", "[[\"en\",\"English\",\"\"]]");  // languages named otherwise
    QVERIFY(stage.run(root_ / "runs-d" / "pretrain", Json{{"steps", 10}}));
    QCOMPARE(stage.computed, 4);
  }

  void aDamagedEntryIsRemovedAndTheStageComputes() {
    CountingStage stage;
    const Json inputs{{"steps", 10}};
    QVERIFY(stage.run(root_ / "runs-a" / "pretrain", inputs));
    fs::path entry;
    for (const auto& e : fs::directory_iterator(root_ / "cache")) entry = e.path();
    QVERIFY(fs::exists(entry / "manifest.json"));
    fs::remove(entry / "out.txt");
    QVERIFY(stage.run(root_ / "runs-b" / "pretrain", inputs));  // computed: the copy failed its check
    QCOMPARE(stage.computed, 2);
    QCOMPARE(test::readText(root_ / "runs-b" / "pretrain" / "out.txt"), std::string("first"));
    QVERIFY(fs::exists(entry / "out.txt"));  // and kept again, whole
    QVERIFY(!stage.run(root_ / "runs-c" / "pretrain", inputs));
    QCOMPARE(stage.computed, 2);
  }

  void aFolderTheWorkbenchDidNotMakeIsRefused() {
    CountingStage stage;
    const Json inputs{{"steps", 10}};
    QVERIFY(stage.run(root_ / "runs-a" / "pretrain", inputs));
    const fs::path user = root_ / "mine" / "pretrain";
    test::writeText(user / "notes.txt", "the user's");
    QVERIFY(!test::inputErrorOf([&] { stage.run(user, inputs); }).empty());
    QCOMPARE(test::readText(user / "notes.txt"), std::string("the user's"));
    QVERIFY(!fs::exists(user / "out.txt"));
  }

  // A folder in the cache that the workbench did not mark, under an entry's name, is never removed or
  // replaced: keeping the recomputed stage fails with a warning, and the stage itself completes.
  void anUnmarkedFolderInTheCacheIsLeftAlone() {
    CountingStage stage;
    const Json inputs{{"steps", 10}};
    const fs::path a = root_ / "runs-a" / "pretrain";
    QVERIFY(stage.run(a, inputs));
    fs::path entry;
    for (const auto& e : fs::directory_iterator(root_ / "cache")) entry = e.path();
    fs::remove(entry / kMadeMarker);  // now a folder someone else made
    test::writeText(entry / "notes.txt", "the user's");
    stage.content = "second";
    QVERIFY(stage.run(a, inputs, /*force=*/true));
    QCOMPARE(test::readText(a / "out.txt"), std::string("second"));
    QCOMPARE(test::readText(entry / "notes.txt"), std::string("the user's"));
    QCOMPARE(test::readText(entry / "out.txt"), std::string("first"));
    QVERIFY(!fs::exists(scratchPath(entry)));  // the staged copy did not stay behind
  }

  void withoutACacheNothingIsShared() {
    StageFolder::setCache({});
    CountingStage stage;
    QVERIFY(stage.run(root_ / "runs-a" / "pretrain", Json{{"steps", 10}}));
    QVERIFY(stage.run(root_ / "runs-b" / "pretrain", Json{{"steps", 10}}));
    QCOMPARE(stage.computed, 2);
    QVERIFY(!fs::exists(root_ / "cache"));
  }
};

QTEST_GUILESS_MAIN(TestStageCache)
#include "test_stage_cache.moc"
