// The dmoe binary: help on every command, exit codes, the JSON-lines stream.
#include <QtTest>

#include "test_support.h"
#include "util/json.h"

using namespace dmoe;
namespace fs = std::filesystem;

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
