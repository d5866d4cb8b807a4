// The event stream: JSON-lines shape, and the terminal progress line.
#include <QtTest>
#include <cmath>
#include <sstream>

#include "events/event_sink.h"
#include "events/stream_sinks.h"

using namespace dmoe;

class TestEvents : public QObject {
  Q_OBJECT
 private slots:
  void jsonLinesAreOneObjectPerLine() {
    std::ostringstream out;
    JsonLinesSink sink(out);
    Reporter r(sink, "tokenizer");
    r.started();
    r.progress(3, 22, "languages");
    r.warning("no text", "fra.jsonl:7");
    r.metrics(10, {{"loss", 2.5}});
    r.finished("done");
    std::istringstream lines(out.str());
    std::vector<Json> events;
    for (std::string line; std::getline(lines, line);) events.push_back(Json::parse(line));
    QCOMPARE(events.size(), size_t{5});
    for (const Json& e : events) {
      QCOMPARE(e["v"].get<int>(), 1);
      QCOMPARE(e["stage"].get<std::string>(), std::string("tokenizer"));
      QVERIFY(e["t"].is_number());
    }
    QCOMPARE(events[0]["event"].get<std::string>(), std::string("stage"));
    QCOMPARE(events[0]["status"].get<std::string>(), std::string("started"));
    QCOMPARE(events[1]["done"].get<int>(), 3);
    QCOMPARE(events[1]["total"].get<int>(), 22);
    QCOMPARE(events[2]["where"].get<std::string>(), std::string("fra.jsonl:7"));
    QCOMPARE(events[3]["values"]["loss"].get<double>(), 2.5);
    QCOMPARE(events[4]["status"].get<std::string>(), std::string("done"));
  }

  void invalidUtf8InAMessageIsReplacedNotThrown() {
    std::ostringstream out;
    JsonLinesSink sink(out);
    Reporter(sink, "corpus").warning("bad bytes \xff\xfe here");
    Json e = Json::parse(out.str());
    QVERIFY(e["message"].get<std::string>().find("bad bytes") == 0);
  }

  // A number that is NaN or ±inf would be written as null, which readers take
  // for "no value" (or fail on): it is refused, naming its JSON path, by the
  // Reporter whatever the sink, and by the shared writer of files and event
  // lines (dumpJson). Deliberate nulls stay.
  void aNumberThatIsNotFiniteIsNeverWrittenAsNull() {
    std::ostringstream out;
    JsonLinesSink sink(out);
    Reporter r(sink, "train");
    try {
      r.metrics(3, {{"loss", 2.5}, {"eval_ppl", {{"fr", std::nan("")}}}});
      QFAIL("expected an error");
    } catch (const std::runtime_error& e) {
      QVERIFY2(std::string(e.what()).find("/values/eval_ppl/fr is nan") != std::string::npos, e.what());
    }
    QCOMPARE(out.str(), std::string());
    CollectingSink kept;  // any sink: the Reporter refuses it
    QVERIFY_THROWS_EXCEPTION(std::runtime_error, Reporter(kept, "x").result("table", {{"r", INFINITY}}));
    QVERIFY(kept.events.empty());
    try {
      dumpJson(Json{{"a/b", Json::array({1.0, -INFINITY})}});
      QFAIL("expected an error");
    } catch (const std::runtime_error& e) {
      QVERIFY2(std::string(e.what()).find("/a~1b/1 is -inf") != std::string::npos, e.what());
    }
    QCOMPARE(dumpJson(Json{{"ppl", nullptr}, {"x", 1.5}}, 1), Json({{"ppl", nullptr}, {"x", 1.5}}).dump(1));
  }

  void progressLineShowsPercentRateAndEta() {
    // 4 of 10 in 8 s: 0.5/s, 6 left → 12 s.
    std::string line = TerminalSink::progressLine(4, 10, "languages", 8.0, 10);
    QCOMPARE(line, std::string("[####------]  40%  4/10 languages  0.5/s  ETA 0:12"));
    QCOMPARE(TerminalSink::formatDuration(3725), std::string("1:02:05"));
    QCOMPARE(TerminalSink::formatDuration(65), std::string("1:05"));
    QCOMPARE(TerminalSink::metricsLine(30, Json{{"step", 30}, {"loss", 6.0908665}, {"lr", 0.0019863613}, {"note", "x"},
                                                {"eval_ppl", {{"fra", 20.0}, {"deu", 30.0}}}, {"eval_ppl_mean", 25.0}}),
             std::string("step 30  loss 6.091  lr 0.001986  note \"x\"  eval_ppl_mean 25"));
  }

  void terminalSinkWritesReadableLines() {
    std::ostringstream out;
    TerminalSink sink(out, false);
    Reporter r(sink, "corpus");
    r.started();
    r.progress(1, 2, "files");  // not interactive: no bar
    r.warning("not JSON", "de.jsonl:3");
    QCOMPARE(out.str(), std::string("==> corpus\nwarning: de.jsonl:3: not JSON\n"));
  }
};

QTEST_GUILESS_MAIN(TestEvents)
#include "test_events.moc"
