// The dmoe binary: help on every command, exit codes, the JSON-lines stream;
// a FIFO given as an input is refused at once, and SIGINT / SIGTERM end a
// command that waits where nothing polls the cancellation flag.
#include <QtTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_support.h"
#include "util/json.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

// A TCP socket listening on 127.0.0.1 at a free port, never answering; closed by the destructor.
struct SilentListener {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int port = 0;
  SilentListener() {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 && ::listen(fd, 4) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
      port = ntohs(address.sin_port);
  }
  ~SilentListener() { ::close(fd); }
  // Whether a client connected within `ms` (the connection stays queued, unanswered).
  bool connected(int ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) == 1;
  }
};

}  // namespace

class TestCli : public QObject {
  Q_OBJECT
 private slots:
  void helpOnEveryCommand() {
    for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
             {"--help"}, {"info", "--help"}, {"project", "--help"}, {"project", "check", "--help"},
             {"project", "describe", "--help"}}) {
      auto r = test::runCli(args);
      QVERIFY2(r.exitCode == 0, args[0].c_str());
      QVERIFY(r.out.find("Usage") != std::string::npos || r.out.find("usage") != std::string::npos);
    }
  }

  void usageErrorsExitWith2() {
    QCOMPARE(test::runCli({}).exitCode, 2);                          // no command
    QCOMPARE(test::runCli({"no-such-command"}).exitCode, 2);         // unknown command
    QCOMPARE(test::runCli({"project", "check"}).exitCode, 2);        // missing argument
    QCOMPARE(test::runCli({"--events", "xml", "info"}).exitCode, 2); // bad option value
  }

  void badProjectExitsWith2AndListsEveryProblem() {
    QTemporaryDir tmp;
    fs::path file = fs::path(tmp.path().toStdString()) / "bad.dmoe.json";
    test::writeText(file, R"({"format": "dmoe-project/1", "languages": [{"id": "fr"}],
                              "layer_selection": {"epsilon": 2}, "grouping": {"groups": "six"}})");
    auto r = test::runCli({"project", "check", file.string()});
    QCOMPARE(r.exitCode, 2);
    QVERIFY(r.err.find("/layer_selection/epsilon") != std::string::npos);
    QVERIFY(r.err.find("/grouping/groups") != std::string::npos);
    QVERIFY(r.err.find("/corpus/root") != std::string::npos);

    auto j = test::runCli({"--events", "jsonl", "project", "check", file.string()});
    QCOMPARE(j.exitCode, 2);
    Json error = Json::parse(j.out.substr(0, j.out.find('\n')));
    QCOMPARE(error["event"].get<std::string>(), std::string("error"));
    QCOMPARE(error["problems"].size(), size_t{3});
  }

  void missingProjectFileExitsWith2() {
    auto r = test::runCli({"project", "check", "/nonexistent/p.dmoe.json"});
    QCOMPARE(r.exitCode, 2);
    QVERIFY(r.err.find("/nonexistent/p.dmoe.json") != std::string::npos);
  }

  // A FIFO that no writer ever opens, as a project file and as a checkpoint's
  // config.json: refused by name at once (exit 2), not waited on forever.
  void aFifoIsRefusedByNameNotWaitedOn() {
    QTemporaryDir tmp;
    const fs::path root(tmp.path().toStdString());
    const fs::path project = root / "p.dmoe.json", config = root / "model/config.json";
    fs::create_directories(config.parent_path());
    QCOMPARE(::mkfifo(project.c_str(), 0644), 0);
    QCOMPARE(::mkfifo(config.c_str(), 0644), 0);
    for (const auto& [args, fifo] : std::vector<std::pair<std::vector<std::string>, fs::path>>{
             {{"project", "check", project.string()}, project}, {{"inspect", config.parent_path().string()}, config}}) {
      auto r = test::runCli(args, {}, 10000);
      QVERIFY2(r.exitCode == 2, (args[0] + ": " + r.err).c_str());
      QVERIFY_CONTAINS(r.err, fifo.string() + ": not a regular file (a FIFO)");
    }
  }

  // SIGTERM and SIGINT end a command that waits where nothing polls the
  // cancellation flag — a torchrun process whose job's store accepts the
  // connection and never answers (it would wait DMOE_COLLECTIVE_TIMEOUT_S) —
  // at once, with 128 + signal.
  void aSignalEndsACommandThatWaits() {
    for (const int signal : {SIGTERM, SIGINT}) {
      SilentListener store;
      QVERIFY(store.port > 0);
      QProcess process;
      QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
      env.insert("WORLD_SIZE", "2");
      env.insert("RANK", "1");
      env.insert("MASTER_ADDR", "127.0.0.1");
      env.insert("MASTER_PORT", QString::number(store.port));
      env.insert("DMOE_COLLECTIVE_TIMEOUT_S", "300");
      process.setProcessEnvironment(env);
      process.start(QString::fromStdString(test::cliPath().string()), {"info"});
      QVERIFY(process.waitForStarted());
      if (!store.connected(30000)) {
        process.waitForFinished(30000);
        const std::string err = process.readAllStandardError().toStdString();
        if (err.find("no c10d") != std::string::npos) QSKIP("this build of dmoe has no c10d: it joins no job");
        QFAIL(("dmoe never connected to the job's store: " + err).c_str());
      }
      QVERIFY(::kill(static_cast<pid_t>(process.processId()), signal) == 0);
      const bool ended = process.waitForFinished(5000);
      if (!ended) {
        process.kill();
        process.waitForFinished();
      }
      QVERIFY2(ended, ("still waiting 5 s after signal " + std::to_string(signal)).c_str());
      QCOMPARE(process.exitStatus(), QProcess::NormalExit);
      QCOMPARE(process.exitCode(), 128 + signal);
      QVERIFY_CONTAINS(process.readAllStandardError().toStdString(), "cancelled by signal " + std::to_string(signal));
    }
  }

  void describeAndInfoSpeakJsonLines() {
    auto r = test::runCli({"--events", "jsonl", "project", "describe"});
    QCOMPARE(r.exitCode, 0);
    Json event = Json::parse(r.out.substr(0, r.out.find('\n')));
    QCOMPARE(event["event"].get<std::string>(), std::string("result"));
    QVERIFY(event["data"].size() > 50);
    auto info = test::runCli({"--events", "jsonl", "info"});
    QCOMPARE(info.exitCode, 0);
    QVERIFY(Json::parse(info.out.substr(0, info.out.find('\n')))["data"].contains("torch_version"));
  }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
