// Multi-process jobs (runtime/distributed.h) through the real launcher:
// `torchrun --no-python --nproc_per_node 2 dmoe run …` (Debian's
// python3-torch), world size 2 on localhost, on the micro project.
//   - the launch variables are read and checked (no job needed);
//   - deviation split over two processes writes the same bytes as one process
//     (the same fine-tunes, one per process, one thread each);
//   - data-parallel training (pretrain, launched as two machines of one
//     process each; DMoE stages 1 and 2) follows the
//     one-process loss curve up to float summation order (the measured
//     largest relative difference is printed; bound 1e-4); the held-out
//     evaluation split by language writes the same table;
//   - a rank killed mid-pretraining ends the job with a clear error within a
//     bounded time (no hang), and the next launch resumes from the last
//     checkpoint to the same files as an uninterrupted two-process run;
//   - SIGTERM to one rank stops both after the same step with a checkpoint;
//   - a hung rank ends the job through the collective timeout.
// torchrun runs with --standalone (rank 0 hosts the c10d store) and with its
// static rendezvous (torchrun's agent hosts it): both store modes.
#include "runtime/distributed.h"  // LibTorch before Qt (its `slots` macro)

#include <QProcess>
#include <QStandardPaths>
#include <QtTest>
#include <chrono>
#include <set>
#include <sstream>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "micro_project.h"
#include "pipeline/stage_catalog.h"
#include "test_support.h"
#include "util/error.h"
#include "util/json.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

// One thread per process in both runs (the same BLAS partitioning, so the same
// bytes where the computation is the same); stage 2 in 2-row micro-batches
// like each process's half of its 4-row batch (its balance loss is computed
// per micro-batch), adaptation and LayerMoE too (router and classifier
// losses); LayerMoE on (uniform allocation: the micro languages' S_i is
// below 0, which the layer-wise one refuses); pretraining checkpoints every 5
// steps (the kill test).
Json jobPatch() {
  const Json layerStage{{"steps", 4}, {"learning_rate", 1e-3}, {"seq_len", 16}, {"batch_sequences", 4}, {"micro_batch", 2}};
  return Json{{"threads", 1},
              {"base_model", {{"pretrain", {{"checkpoint_every", 5}}}}},
              {"train", {{"stage2", {{"micro_batch", 2}}}}},
              {"adaptation", {{"micro_batch", 2}, {"methods", {"dmoe-adapt", "layermoe"}}}},
              {"layermoe", {{"budget", 6}, {"allocation", "uniform"}, {"similarity_tokens", 300}, {"replay_fraction", 0.5},
                            {"stage1", layerStage}, {"stage2", layerStage}}}};
}

std::string torchrun() { return QStandardPaths::findExecutable("torchrun").toStdString(); }

// A port the kernel just handed out for localhost (free for the launcher's rendezvous).
int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

struct Launch {
  std::unique_ptr<QProcess> process = std::make_unique<QProcess>();
  std::string out, err;
};

// torchrun with `processes` processes on `dmoe --events jsonl <args>`; `launcherArgs` choose the rendezvous.
void start(Launch& l, const fs::path& workdir, const QStringList& launcherArgs, const std::vector<std::string>& args,
           int processes = 2) {
  QStringList list = launcherArgs;
  // Debian 12's torchrun (1.13 on Python 3.11) fails on its default "0" for
  // both: Python 3.11 no longer lists a zero IntFlag member. Tee stderr, leave stdout.
  list << "--redirects"
       << "2"
       << "--tee"
       << "2";
  list << "--nproc_per_node" << QString::number(processes)
       << "--no_python" << QString::fromStdString(test::cliPath().string()) << "--events"
       << "jsonl";
  for (const std::string& a : args) list << QString::fromStdString(a);
  l.process->setWorkingDirectory(QString::fromStdString(workdir.string()));
  l.process->start(QString::fromStdString(torchrun()), list);
}

void finish(Launch& l, int timeoutMs) {
  if (!l.process->waitForFinished(timeoutMs)) {
    l.process->kill();
    l.process->waitForFinished();
  }
  l.out += l.process->readAllStandardOutput().toStdString();
  l.err += l.process->readAllStandardError().toStdString();
}

// Two launchers of one job: both read as they run (no pipe fills up), and
// when one fails the other is stopped rather than left waiting for its peer.
void finishTogether(Launch& a, Launch& b, int timeoutMs) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  auto failed = [](const Launch& l) {
    return l.process->state() == QProcess::NotRunning && (l.process->exitStatus() != QProcess::NormalExit || l.process->exitCode() != 0);
  };
  while ((a.process->state() != QProcess::NotRunning || b.process->state() != QProcess::NotRunning) &&
         std::chrono::steady_clock::now() < deadline) {
    for (Launch* l : {&a, &b}) {
      l->process->waitForFinished(100);
      l->out += l->process->readAllStandardOutput().toStdString();
      l->err += l->process->readAllStandardError().toStdString();
    }
    if (failed(a) || failed(b)) break;
  }
  for (Launch* l : {&a, &b}) {
    if (l->process->state() != QProcess::NotRunning) l->process->terminate();  // torchrun stops its workers
    finish(*l, 30000);
  }
}

// Both files exist, hold something, and hold the same bytes.
bool sameFile(const fs::path& a, const fs::path& b) {
  if (!fs::exists(a) || !fs::exists(b) || fs::file_size(a) == 0) {
    qWarning("missing or empty: %s or %s", a.c_str(), b.c_str());
    return false;
  }
  return test::readText(a) == test::readText(b);
}

std::string tail(const std::string& s) { return s.substr(s.size() > 4000 ? s.size() - 4000 : 0); }

// The losses of a metrics.jsonl by step.
std::map<std::int64_t, double> losses(const fs::path& file) {
  std::map<std::int64_t, double> out;
  std::istringstream lines(test::readText(file));
  for (std::string line; std::getline(lines, line);) {
    const Json j = Json::parse(line);
    out[j.at("step").get<std::int64_t>()] = j.at("loss").get<double>();
  }
  return out;
}

// Largest relative difference of two loss curves over the same steps.
double largestRelativeDifference(const fs::path& a, const fs::path& b) {
  const auto x = losses(a), y = losses(b);
  if (x.size() != y.size() || x.empty()) return 1e9;
  double worst = 0;
  for (const auto& [step, value] : x) {
    if (!y.count(step)) return 1e9;
    worst = std::max(worst, std::abs(value - y.at(step)) / std::max(1e-12, std::abs(value)));
  }
  return worst;
}

// The PID of the worker of `rank` among torchrun's children (their environment names it).
pid_t workerOfRank(qint64 launcher, int rank) {
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(launcher) + "/task")) {
    std::istringstream children(test::readText(task.path() / "children"));
    for (pid_t pid; children >> pid;) {
      const std::string nul(1, '\0');  // environ: KEY=VALUE entries, each ended by NUL (LOCAL_RANK must not match)
      const std::string environ = nul + test::readText("/proc/" + std::to_string(pid) + "/environ");
      if (environ.find(nul + "RANK=" + std::to_string(rank) + nul) != std::string::npos) return pid;
    }
  }
  return -1;
}

}  // namespace

class TestDistributed : public QObject {
  Q_OBJECT

 private slots:
  void launchVariablesAreRead() {
    std::map<std::string, std::string> env;
    auto read = [&] {
      return readLaunchEnvironment([&](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
      });
    };
    QVERIFY(!read().multiProcess());  // nothing set: one process
    env = {{"WORLD_SIZE", "1"}};
    QVERIFY(!read().multiProcess());
    env = {{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
           {"MASTER_ADDR", "node0"}, {"MASTER_PORT", "29500"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"},
           {"TORCHELASTIC_RESTART_COUNT", "2"}};
    const LaunchEnvironment e = read();
    QCOMPARE(e.worldSize, 4);
    QCOMPARE(e.rank, 3);
    QCOMPARE(e.localRank, 1);
    QCOMPARE(e.localWorldSize, 2);
    QCOMPARE(e.masterAddr, std::string("node0"));
    QCOMPARE(e.masterPort, 29500);
    QVERIFY(e.agentStore);
    QCOMPARE(e.restartCount, 2);
    env["RANK"] = "4";
    QVERIFY_CONTAINS(test::inputErrorOf([&] { read(); }), "RANK=\"4\": expected a whole number from 0 to 3");
    env["RANK"] = "0";
    env.erase("MASTER_ADDR");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { read(); }), "MASTER_ADDR is not set");
    env["MASTER_ADDR"] = "node0";
    env["MASTER_PORT"] = "http";
    QVERIFY_CONTAINS(test::inputErrorOf([&] { read(); }), "MASTER_PORT=\"http\"");
    env["MASTER_PORT"] = "29500";
    env.erase("RANK");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { read(); }), "RANK is not set");
  }

  // One process through `train`, then the stages after pretraining again by
  // two: deviation to the same bytes, DMoE training to the same curve.
  void twoProcessesComputeWhatOneDoes() {
    QVERIFY2(!torchrun().empty(), "torchrun not found: install Debian's python3-torch (scripts/setup.sh does)");
    QVERIFY(dir_.isValid());
    project_ = test::writeMicroProject(root() / "p", jobPatch());
    auto prefix = test::runCli({"run", project_.string(), "--until", "pretrain"}, root() / "p", 300000);
    QVERIFY2(prefix.exitCode == 0, tail(prefix.err).c_str());
    std::set<std::string> before;  // the folders up to pretraining, shared by both runs
    for (const auto& entry : fs::directory_iterator(runs())) before.insert(entry.path().filename().string());
    auto one = test::runCli({"run", project_.string(), "--until", "layermoe-train"}, root() / "p", 300000);
    QVERIFY2(one.exitCode == 0, tail(one.err).c_str());
    fs::create_directories(root() / "one");
    for (const auto& entry : fs::directory_iterator(runs()))
      if (!before.count(entry.path().filename().string()))
        fs::rename(entry.path(), root() / "one" / entry.path().filename());

    Launch two;
    start(two, root() / "p", {"--standalone"}, {"run", project_.string(), "--until", "layermoe-train"});
    finish(two, 600000);
    QVERIFY2(two.process->exitCode() == 0, (tail(two.out) + tail(two.err)).c_str());
    QVERIFY_CONTAINS(two.out, "\"stage\":\"deviation\"");
    QVERIFY_CONTAINS(two.out, "pretrained model is up to date");
    // Rank 0 alone reports: the stage started once.
    std::istringstream events(two.out);
    int deviationStarts = 0;
    for (std::string line; std::getline(events, line);) {
      const Json e = Json::parse(line, nullptr, false);
      if (e.is_object() && e.value("event", "") == "stage" && e.value("status", "") == "started" &&
          e.value("stage", "") == "deviation")
        ++deviationStarts;
    }
    QCOMPARE(deviationStarts, 1);
    // The languages split: rank 0 (which reports) fine-tuned languages 0, 2, 4 and not rank 1's.
    QVERIFY_CONTAINS(two.out, "\"stage\":\"deviation:en\"");
    QVERIFY_CONTAINS(two.out, "\"stage\":\"deviation:uk\"");
    QVERIFY(two.out.find("\"stage\":\"deviation:nl\"") == std::string::npos);
    QVERIFY(two.out.find("\"stage\":\"deviation:ru\"") == std::string::npos);

    for (const char* id : {"en", "nl", "de", "ru", "uk"}) {
      for (const char* file : {"norms.json", "ffn_delta.safetensors"}) {
        const fs::path rel = fs::path("deviation") / id / file;
        QVERIFY2(sameFile(root() / "one" / rel, runs() / rel), rel.c_str());
      }
    }
    QVERIFY(sameFile(root() / "one" / "deviation" / "deviation.json", runs() / "deviation" / "deviation.json"));
    for (const char* stage : {"stage1", "stage2"}) {
      const fs::path rel = fs::path("train") / stage / "metrics.jsonl";
      const double worst = largestRelativeDifference(root() / "one" / rel, runs() / rel);
      qInfo("train %s: largest relative loss difference, 2 processes vs 1: %.3g", stage, worst);
      QVERIFY2(worst < 1e-4, rel.c_str());
    }
    // The same trained weights (the curves above are equal), so the held-out
    // table split by language over the processes is the same file.
    QVERIFY(sameFile(root() / "one" / "train" / "model" / "model.safetensors",
                     runs() / "train" / "model" / "model.safetensors"));
    QVERIFY(sameFile(root() / "one" / "eval" / "perplexity.json", runs() / "eval" / "perplexity.json"));
    // Baselines (dense-continue and random groups: merge on rank 0, training
    // and evaluation split), the adaptation (probe, training, checks) and
    // LayerMoE (similarity split by language, expansion trained data parallel): the same files.
    for (const char* rel : {"baselines/dense-continue/eval/perplexity.json", "baselines/random-groups/eval/perplexity.json",
                            "adapt/adaptation.json", "adapt/model/model.safetensors",
                            "layermoe/similarity/layer_similarity.json", "layermoe/uniform/expansion.json",
                            "layermoe/uniform/eval/perplexity.json"})
      QVERIFY2(sameFile(root() / "one" / rel, runs() / rel), rel);
  }

  // Pretraining data parallel (the one-process run is the prefix above), as
  // the README's two-machine command: two launchers (--nnodes 2, --node_rank
  // 0 and 1) of one process each, meeting at --master_addr.
  void pretrainingFollowsTheOneProcessCurve() {
    QVERIFY(!project_.empty());
    fs::rename(runs() / "pretrain", root() / "one-pretrain");
    const QStringList twoMachines = {"--nnodes", "2", "--master_addr", "127.0.0.1", "--master_port",
                                     QString::number(freePort())};
    Launch uninterrupted, second;
    const std::vector<std::string> command = {"run", project_.string(), "--until", "pretrain"};
    start(uninterrupted, root() / "p", twoMachines + QStringList{"--node_rank", "0"}, command, 1);
    start(second, root() / "p", twoMachines + QStringList{"--node_rank", "1"}, command, 1);
    finishTogether(uninterrupted, second, 300000);
    QVERIFY2(uninterrupted.process->exitCode() == 0, (tail(uninterrupted.out) + tail(uninterrupted.err)).c_str());
    QVERIFY2(second.process->exitCode() == 0, (tail(second.out) + tail(second.err)).c_str());
    QVERIFY(second.out.empty());  // rank 1 on the second machine reports nothing
    const fs::path curve = fs::path("metrics.jsonl");
    const double worst = largestRelativeDifference(root() / "one-pretrain" / curve, runs() / "pretrain" / curve);
    qInfo("pretrain: largest relative loss difference, 2 processes vs 1: %.3g", worst);
    QVERIFY(worst < 1e-4);
    fs::rename(runs() / "pretrain", root() / "two-pretrain");
  }

  // SIGKILL of rank 1 after the step-10 checkpoint: rank 0 stops with a
  // clear error within seconds, torchrun names the killed rank; the next
  // launch resumes to the same files as the uninterrupted run.
  void killedRankEndsTheJobAndTheNextLaunchResumes() {
    QVERIFY(fs::exists(root() / "two-pretrain"));
    Launch killed;
    const double seconds = interruptPretraining(killed, SIGKILL, {});
    qInfo("the job ended %.1f s after rank 1 was killed (exit %d)", seconds, killed.process->exitCode());
    QVERIFY(seconds < 60);
    QVERIFY(killed.process->exitCode() != 0);
    QVERIFY_CONTAINS(killed.out, "a process of the job died, hung or failed");  // rank 0's error event
    QVERIFY_CONTAINS(killed.err, "Signal 9 (SIGKILL) received by PID");       // torchrun's summary
    QVERIFY(fs::exists(runs() / "pretrain" / "checkpoints" / "step-10" / "complete"));
    QVERIFY(!fs::exists(runs() / "pretrain" / "model" / "config.json"));
    resumeToTheUninterruptedFiles();
  }

  // SIGTERM to rank 1 alone: both processes stop after the same step, rank 0's
  // checkpoint of that step complete, both exit 143; the resume gives the same files.
  void cancellingOneRankStopsAll() {
    QVERIFY(fs::exists(root() / "two-pretrain"));
    fs::remove_all(runs() / "pretrain");
    Launch cancelled;
    interruptPretraining(cancelled, SIGTERM, {});
    QVERIFY_CONTAINS(cancelled.out, "\"message\":\"cancelled after step");
    QVERIFY_CONTAINS(cancelled.out, "; checkpoint saved, a resume continues from it");
    QVERIFY_CONTAINS(cancelled.err, "exitcode  : 143");
    QVERIFY(cancelled.err.find("exitcode  : 1 ") == std::string::npos);
    std::int64_t lastStep = 0;
    for (const auto& [step, loss] : losses(runs() / "pretrain" / "metrics.jsonl")) lastStep = step;
    QVERIFY(lastStep >= 12 && lastStep < 30);
    QVERIFY(fs::exists(runs() / "pretrain" / "checkpoints" / ("step-" + std::to_string(lastStep)) / "complete"));
    resumeToTheUninterruptedFiles();
  }

  // A rank that hangs (SIGSTOP) mid-step: rank 0's all-reduce times out
  // (DMOE_COLLECTIVE_TIMEOUT_S=5) and the job ends in bounded time.
  void hungRankEndsTheJobInBoundedTime() {
    fs::remove_all(runs() / "pretrain");
    Launch hung;
    const double seconds = interruptPretraining(hung, SIGSTOP, {{"DMOE_COLLECTIVE_TIMEOUT_S", "5"}});
    qInfo("the job ended %.1f s after rank 1 hung (exit %d)", seconds, hung.process->exitCode());
    QVERIFY(seconds < 90);  // the 5 s timeout, then torchrun's 30 s grace before SIGKILL
    QVERIFY(hung.process->exitCode() != 0);
    QVERIFY_CONTAINS(hung.out, "a process of the job died, hung or failed");
  }

  // Commands that do not split refuse to run in a job instead of running twice.
  void otherCommandsRefuseAJob() {
    for (const char* command : {"run", "deviation", "train", "eval", "pretrain", "layermoe", "report"})
      QVERIFY2(commandRunsInJob(command), command);
    for (const char* command : {"tokenizer", "info", "probe", "export", "eval-ppl", "corpus", "routing", "layer"})
      QVERIFY2(!commandRunsInJob(command), command);
    Launch info;
    start(info, root(), {"--standalone"}, {"info"});
    finish(info, 120000);
    QVERIFY(info.process->exitCode() != 0);
    QVERIFY_CONTAINS(info.out + info.err, "`dmoe info` does not run in a torchrun job");
  }

 private:
  fs::path root() const { return fs::path(dir_.path().toStdString()); }
  fs::path runs() const { return root() / "p" / "runs"; }

  static QStringList staticRendezvous() {
    return {"--master_addr", "127.0.0.1", "--master_port", QString::number(freePort())};
  }

  // Launches pretraining on two processes and sends `signal` to rank 1 once
  // rank 0 reports step 12 (after the step-10 checkpoint); returns the
  // seconds from the signal to the launcher's end.
  double interruptPretraining(Launch& l, int signal, const std::map<QString, QString>& env) {
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    for (const auto& [name, value] : env) environment.insert(name, value);
    l.process->setProcessEnvironment(environment);
    start(l, root() / "p", staticRendezvous(), {"run", project_.string(), "--until", "pretrain"});
    if (!l.process->waitForStarted()) return 1e9;
    bool sent = false;
    auto sentAt = std::chrono::steady_clock::now();
    while (!sent && l.process->state() != QProcess::NotRunning) {
      l.process->waitForReadyRead(500);
      while (!sent && l.process->canReadLine()) {
        const std::string line = l.process->readLine().toStdString();
        l.out += line;
        const Json e = Json::parse(line, nullptr, false);
        if (e.is_object() && e.value("event", "") == "metrics" && e.value("stage", "") == "pretrain" &&
            e["values"].value("step", 0) >= 12) {
          const pid_t rank1 = workerOfRank(l.process->processId(), 1);
          if (rank1 <= 0 || ::kill(rank1, signal) != 0) return 1e9;
          sentAt = std::chrono::steady_clock::now();
          sent = true;
        }
      }
    }
    if (!sent) qWarning("no signal sent: %s", tail(l.out + l.err).c_str());
    finish(l, 180000);
    return sent ? std::chrono::duration<double>(std::chrono::steady_clock::now() - sentAt).count() : 1e9;
  }

  // A new launch completes pretraining from the checkpoint to the uninterrupted run's files.
  void resumeToTheUninterruptedFiles() {
    Launch resumed;
    start(resumed, root() / "p", staticRendezvous(), {"run", project_.string(), "--until", "pretrain"});
    finish(resumed, 300000);
    QVERIFY2(resumed.process->exitCode() == 0, (tail(resumed.out) + tail(resumed.err)).c_str());
    QVERIFY_CONTAINS(resumed.out, "resumed at step");
    QCOMPARE(test::metricsWithoutTimings(runs() / "pretrain" / "metrics.jsonl"),
             test::metricsWithoutTimings(root() / "two-pretrain" / "metrics.jsonl"));
    QVERIFY(sameFile(runs() / "pretrain" / "model" / "model.safetensors",
                     root() / "two-pretrain" / "model" / "model.safetensors"));
  }
  QTemporaryDir dir_;
  fs::path project_;
};

QTEST_GUILESS_MAIN(TestDistributed)
#include "test_distributed.moc"
