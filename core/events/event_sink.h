// The event stream: what every stage reports while it runs.
//
// Stages never print. They talk to a Reporter, which builds one JSON object
// per event and hands it to an EventSink. The CLI installs a terminal sink
// (log lines, progress bar with ETA) or, with `--events jsonl`, a sink that
// prints one object per line on stdout — the stream the GUI consumes.
// The event kinds and their fields are documented in docs/events.md.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"
#include "util/json.h"

namespace dmoe {

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void write(const Json& event) = 0;
};

// Keeps every event; for tests and for callers that inspect results.
class CollectingSink : public EventSink {
 public:
  void write(const Json& event) override { events.push_back(event); }
  std::vector<Json> events;
};

class NullSink : public EventSink {
 public:
  void write(const Json&) override {}
};

// The stage-facing API. One Reporter per stage run; timestamps are seconds
// since the Reporter's clock started (shared by copies made with forStage).
// An event holding a number that is NaN or ±inf (a metrics value, a result
// table, …) throws, unwritten (util/json.h requireFiniteNumbers), whichever
// sink is installed: no consumer ever reads null for a number.
class Reporter {
 public:
  Reporter(EventSink& sink, std::string stage);

  const std::string& stage() const { return stage_; }
  Reporter forStage(std::string stage) const;

  void started(const Json& info = Json::object());
  void finished(std::string_view status, const Json& info = Json::object());  // "done", "skipped", "failed"
  void progress(std::int64_t done, std::int64_t total, std::string_view unit);
  // `run` (optional): the training run's folder, so a consumer knows which metrics.jsonl the step belongs to.
  void metrics(std::int64_t step, const Json& values, const std::filesystem::path& run = {});
  void artifact(const std::filesystem::path& path, std::string_view kind);
  void result(std::string_view name, const Json& data);
  void log(std::string_view message);
  void warning(std::string_view message, std::string_view where = {});
  void error(std::string_view message, const std::vector<Problem>& problems = {});

  double elapsedSeconds() const;

 private:
  Json base(std::string_view kind) const;
  void send(const Json& event) const;  // not "emit": a Qt macro
  EventSink* sink_;
  std::string stage_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace dmoe
