// The two sinks the CLI chooses between.
//   JsonLinesSink — `--events jsonl`: one JSON object per line, flushed at once
//                   (the GUI reads this through a pipe). An event holding a
//                   number that is not finite throws (dumpJson), unwritten.
//   TerminalSink  — people: stage headers, log lines, warnings, and on a TTY a
//                   progress bar with rate and ETA redrawn in place.
//   OtherRankSink — a process of a job other than rank 0 (rank 0 reports the
//                   job): only its warnings and errors, as text on stderr
//                   prefixed with its rank, never on stdout (the GUI's stream).
#pragma once
#include <chrono>
#include <ostream>
#include <string>

#include "events/event_sink.h"

namespace dmoe {

class JsonLinesSink : public EventSink {
 public:
  explicit JsonLinesSink(std::ostream& out) : out_(out) {}
  void write(const Json& event) override;

 private:
  std::ostream& out_;
};

class OtherRankSink : public EventSink {
 public:
  OtherRankSink(std::ostream& err, int rank) : err_(err), rank_(rank) {}
  void write(const Json& event) override;

 private:
  std::ostream& err_;
  int rank_;
};

class TerminalSink : public EventSink {
 public:
  // `interactive`: draw the progress bar with carriage returns (stderr is a TTY).
  TerminalSink(std::ostream& out, bool interactive) : out_(out), interactive_(interactive) {}
  void write(const Json& event) override;

  // "1:05", "12:00:03"
  static std::string formatDuration(double seconds);
  // "[########------------]  40%  4/10 languages  0.5/s  ETA 0:12"
  static std::string progressLine(std::int64_t done, std::int64_t total, const std::string& unit,
                                  double elapsedSeconds, int width = 24);
  // "step 30  loss 6.091  lr 0.001986" — numbers to 4 significant digits; objects
  // (the per-language eval_ppl) are left out, their summary (eval_ppl_mean) is shown.
  static std::string metricsLine(std::int64_t step, const Json& values);

 private:
  void endBar();
  std::ostream& out_;
  bool interactive_;
  bool barOpen_ = false;
  std::string barStage_;
  std::chrono::steady_clock::time_point barStart_;
};

}  // namespace dmoe
