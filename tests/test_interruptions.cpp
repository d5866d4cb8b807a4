// The interruption campaign the project keeps (issue: reliability): on the
// micro project with every training stage checkpointing, `dmoe run` is killed
// with SIGKILL once inside every training stage (pretrain, deviation, DMoE
// stages 1 and 2, baselines, adaptation, LayerMoE stages 1 and 2) and while
// token shards and the merged model are written, each at a seeded random
// step (the merge right after its model is written, before its manifest),
// and started again until it completes; then every output file equals
// an uninterrupted run's, byte for byte (metrics.jsonl without its wall-clock
// speed fields). A second command on the same project while one runs is
// refused naming the holder. With root: a disk too small for the run fails
// with exit 1 and an error event naming the file and "No space left on
// device" (no abort, nothing half-written that a later run trusts), and the
// same command completes on the grown disk to the same files; a complete runs
// folder on a read-only file system still runs and writes nothing (every
// stage skipped but the statistics, recounted to the same bytes).
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <random>
#include <set>
#include <sstream>

#include <sys/mount.h>
#include <unistd.h>

#include "micro_project.h"
#include "test_support.h"
#include "util/json.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

// Every training stage checkpoints often, so kills land inside stages too; LayerMoE runs as well
// (uniform allocation: the micro languages' S_i is below 0, which the layer-wise one refuses).
Json campaignPatch() {
  const Json every{{"checkpoint_every", 2}};
  const Json layerStage{{"steps", 4}, {"learning_rate", 1e-3}, {"seq_len", 16}, {"batch_sequences", 4},
                        {"micro_batch", 2}, {"checkpoint_every", 2}};
  return Json{{"base_model", {{"pretrain", {{"checkpoint_every", 5}}}}},
              {"train", {{"stage1", every}, {"stage2", every}}},
              {"adaptation", {{"checkpoint_every", 2}, {"methods", {"dmoe-adapt", "layermoe"}}}},
              {"layermoe", {{"budget", 6}, {"allocation", "uniform"}, {"similarity_tokens", 300}, {"replay_fraction", 0.5},
                            {"stage1", layerStage}, {"stage2", layerStage}}},
              {"checkpoints_kept", 2}};  // pruning runs under the kills too
}

// The lock file holds the PID of its last holder, not a result.
bool holdsPid(const std::string& relative) { return relative == ".lock"; }

// A file's bytes as compared: metrics.jsonl without its wall-clock speed fields
// (tokens_per_s, step_time_s), which differ between any two runs.
std::string comparable(const fs::path& file) {
  return file.filename() == "metrics.jsonl" ? test::metricsWithoutTimings(file) : test::readText(file);
}

// {relative path: bytes} of every regular file under `runs` but training checkpoints (resume state).
std::map<std::string, std::string> outputsOf(const fs::path& runs) {
  std::map<std::string, std::string> files;
  for (auto it = fs::recursive_directory_iterator(runs); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory() && it->path().filename() == "checkpoints") {
      it.disable_recursion_pending();
      continue;
    }
    const std::string relative = it->path().lexically_relative(runs).generic_string();
    if (it->is_regular_file() && !holdsPid(relative)) files[relative] = comparable(it->path());
  }
  return files;
}

struct Started {
  std::unique_ptr<QProcess> process;
  std::string out;
};

Started startRun(const fs::path& project) {
  Started s;
  s.process = std::make_unique<QProcess>();
  s.process->setWorkingDirectory(QString::fromStdString(project.parent_path().string()));
  s.process->start(QString::fromStdString(test::cliPath().string()),
                   {"--events", "jsonl", "run", QString::fromStdString(project.string())});
  return s;
}

// Where to kill: the k-th event of a kind ("metrics": a training step, counted
// by its step number, which a resumed run continues; "artifact": a file
// written) whose stage starts with `stage`.
struct KillPoint {
  std::string event, stage;
  int k;
};

// Reads events until the next kill point of `plan` (from `next` on) is
// reached — then SIGKILL, `next` moves past it, true — or the run ends. A kill
// point whose stage the run passes without reaching k is left behind.
bool runUntilKillPoint(Started& s, const std::vector<KillPoint>& plan, size_t& next) {
  std::map<size_t, int> seen;
  while (s.process->state() != QProcess::NotRunning || s.process->canReadLine()) {
    if (!s.process->canReadLine()) s.process->waitForReadyRead(500);
    while (s.process->canReadLine()) {
      const std::string line = s.process->readLine().toStdString();
      s.out += line;
      const Json e = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!e.is_object()) continue;  // not an event: nothing to count (and not this test's to judge)
      const std::string stage = e.value("stage", "");
      for (size_t j = next; j < plan.size(); ++j) {
        if (e.value("event", "") != plan[j].event || stage.rfind(plan[j].stage, 0) != 0) continue;
        next = j;
        const int count = e.value("event", "") == "metrics" ? e["values"].value("step", 0) : ++seen[j];
        if (count < plan[j].k) break;
        s.process->kill();
        s.process->waitForFinished(30000);
        ++next;
        return true;
      }
    }
  }
  s.out += s.process->readAllStandardOutput().toStdString();
  return false;
}

bool mountTmpfs(const fs::path& dir, const std::string& options, std::string& why) {
  if (::geteuid() != 0) {
    why = "needs root to mount a tmpfs";
    return false;
  }
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
    why = std::string("cannot mount a tmpfs: ") + std::strerror(errno);
    return false;
  }
  return true;
}

// Detaches the tmpfs at `path` when the test ends, however it ends.
struct Unmount {
  fs::path path;
  ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
};

std::string firstDifference(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
  for (const auto& [name, bytes] : a)
    if (!b.count(name)) return name + " only in the uninterrupted run";
    else if (b.at(name) != bytes) return name + " differs";
  for (const auto& [name, bytes] : b)
    if (!a.count(name)) return name + " only in the interrupted run";
  return {};
}

}  // namespace

class TestInterruptions : public QObject {
  Q_OBJECT

 private slots:
  // Every run uses the same project folder (corpus statistics record the
  // corpus's absolute path); each run's folder is moved aside after it.
  void initTestCase() {
    QVERIFY(dir_.isValid());
    project_ = test::writeMicroProject(root() / "p", campaignPatch());
    auto r = test::runCli({"run", project_.string()}, root() / "p", 300000);
    if (r.exitCode != 0) qWarning("%s", r.err.substr(r.err.size() > 3000 ? r.err.size() - 3000 : 0).c_str());
    QCOMPARE(r.exitCode, 0);
    fs::rename(runs(), root() / "solo-runs");
    expected_ = outputsOf(root() / "solo-runs");
    QVERIFY(expected_.size() > 50);
  }

  // SIGKILL once inside every training stage (and while token shards and the
  // merged model are written), at a seeded random step, until a run
  // completes: the same files.
  void killedRunsResumeToTheSameFiles() {
    std::mt19937 rng(20261201);
    auto between = [&](int low, int high) { return std::uniform_int_distribution<int>(low, high)(rng); };
    const std::vector<KillPoint> plan{
        {"artifact", "tokens", between(2, 15)},      {"metrics", "pretrain", between(2, 28)},
        {"metrics", "deviation:de", between(1, 3)},   {"artifact", "merge", 1},
        {"metrics", "train:stage1", between(1, 5)},  {"metrics", "train:stage2", between(1, 5)},
        {"metrics", "baselines", between(1, 5)},     {"metrics", "adapt", between(1, 4)},
        {"metrics", "layermoe-train:uniform:stage1", between(1, 3)},
        {"metrics", "layermoe-train:uniform:stage2", between(1, 3)}};
    size_t next = 0;
    int kills = 0;
    bool refusedSecond = false;
    for (int attempt = 0; attempt <= static_cast<int>(plan.size()); ++attempt) {
      Started s = startRun(project_);
      QVERIFY(s.process->waitForStarted());
      if (!refusedSecond) {
        // A second command meanwhile: refused, naming the PID that holds the folder.
        s.process->waitForReadyRead(20000);
        auto second = test::runCli({"run", project_.string()}, root() / "p");
        QCOMPARE(second.exitCode, 2);
        QVERIFY2(second.err.find("in use by another dmoe command (PID " + std::to_string(s.process->processId()) + ")") !=
                     std::string::npos,
                 second.err.c_str());
        refusedSecond = true;
      }
      if (runUntilKillPoint(s, plan, next)) {
        qInfo("SIGKILL %d: %s %s #%d", ++kills, plan[next - 1].event.c_str(), plan[next - 1].stage.c_str(), plan[next - 1].k);
        continue;
      }
      QVERIFY2(s.process->exitCode() == 0, s.out.c_str());
      break;
    }
    // The kill lands a little after the line that asks for it (the child runs
    // on meanwhile), so a short stage may complete before its point: most land.
    QVERIFY2(kills >= static_cast<int>(plan.size()) - 2, std::to_string(kills).c_str());
    const std::string difference = firstDifference(expected_, outputsOf(runs()));
    QVERIFY2(difference.empty(), difference.c_str());
    fs::rename(runs(), root() / "killed-runs");
  }

  // A disk that fills: exit 1 with the file and the cause, never an abort; on
  // the grown disk the same command completes to the same files.
  void aFullDiskIsAnOrdinaryErrorAndTheRunCompletesLater() {
    fs::create_directories(runs());
    std::string why;
    if (!mountTmpfs(runs(), "size=1m", why)) QSKIP(why.c_str());
    const Unmount unmount{runs()};
    auto r = test::runCli({"--events", "jsonl", "run", project_.string()}, root() / "p", 300000);
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.out.find("No space left on device") != std::string::npos, r.out.c_str());
    bool errorEvent = false;
    std::istringstream lines(r.out);
    for (std::string l; std::getline(lines, l);)
      if (!l.empty() && Json::parse(l).value("event", "") == "error") errorEvent = true;
    QVERIFY(errorEvent);

    QVERIFY(::mount("tmpfs", runs().c_str(), "tmpfs", MS_REMOUNT, "size=256m") == 0);
    r = test::runCli({"run", project_.string()}, root() / "p", 300000);
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    const std::string difference = firstDifference(expected_, outputsOf(runs()));
    QVERIFY2(difference.empty(), difference.c_str());
  }

  // A complete runs folder that cannot be written: every stage is up to date, nothing is written.
  void aCompleteReadOnlyRunsFolderStillRuns() {
    fs::create_directories(runs());
    std::string why;
    if (!mountTmpfs(runs(), "size=256m", why)) QSKIP(why.c_str());
    const Unmount unmount{runs()};
    fs::copy(root() / "solo-runs", runs(), fs::copy_options::recursive);
    QVERIFY(::mount("tmpfs", runs().c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) == 0);
    auto r = test::runCli({"--events", "jsonl", "run", project_.string()}, root() / "p", 300000);
    QVERIFY2(r.exitCode == 0, r.out.substr(r.out.rfind("\"event\":\"stage\"")).c_str());  // the failed stage, the error
    QVERIFY2(r.out.find("cannot be written: stages that are up to date are shown") != std::string::npos, r.out.c_str());
    std::istringstream lines(r.out);
    int skipped = 0;
    for (std::string l; std::getline(lines, l);) {
      const Json e = Json::parse(l);
      QVERIFY2(e.value("event", "") != "artifact", l.c_str());  // nothing written
      if (e.value("event", "") != "stage" || e.value("status", "") == "started") continue;
      // The statistics recount when the copy's file times say so: same counts, nothing rewritten.
      QVERIFY2(e["status"] == "skipped" || (e["stage"] == "stats" && e["status"] == "done"), l.c_str());
      ++skipped;
    }
    QVERIFY(skipped >= 15);
  }

 private:
  fs::path root() const { return fs::path(dir_.path().toStdString()); }
  fs::path runs() const { return root() / "p/runs"; }
  QTemporaryDir dir_;
  fs::path project_;
  std::map<std::string, std::string> expected_;
};

QTEST_GUILESS_MAIN(TestInterruptions)
#include "test_interruptions.moc"
