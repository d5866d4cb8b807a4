#include "events/event_sink.h"

#include <cmath>

namespace dmoe {

Reporter::Reporter(EventSink& sink, std::string stage)
    : sink_(&sink), stage_(std::move(stage)), start_(std::chrono::steady_clock::now()) {}

Reporter Reporter::forStage(std::string stage) const {
  Reporter copy = *this;
  copy.stage_ = std::move(stage);
  return copy;
}

double Reporter::elapsedSeconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

// Every event goes through here: a number that is not finite is refused the same for every sink.
void Reporter::send(const Json& event) const {
  requireFiniteNumbers(event);
  sink_->write(event);
}

Json Reporter::base(std::string_view kind) const {
  Json event;
  event["v"] = 1;
  event["event"] = kind;
  event["stage"] = stage_;
  event["t"] = std::round(elapsedSeconds() * 1000.0) / 1000.0;
  return event;
}

void Reporter::started(const Json& info) {
  Json event = base("stage");
  event["status"] = "started";
  if (!info.empty()) event["info"] = info;
  send(event);
}

void Reporter::finished(std::string_view status, const Json& info) {
  Json event = base("stage");
  event["status"] = status;
  if (!info.empty()) event["info"] = info;
  send(event);
}

void Reporter::progress(std::int64_t done, std::int64_t total, std::string_view unit) {
  Json event = base("progress");
  event["done"] = done;
  event["total"] = total;
  event["unit"] = unit;
  send(event);
}

void Reporter::metrics(std::int64_t step, const Json& values, const std::filesystem::path& run) {
  Json event = base("metrics");
  event["step"] = step;
  event["values"] = values;
  if (!run.empty()) event["run"] = run.string();
  send(event);
}

void Reporter::artifact(const std::filesystem::path& path, std::string_view kind) {
  Json event = base("artifact");
  event["path"] = path.string();
  event["kind"] = kind;
  send(event);
}

void Reporter::result(std::string_view name, const Json& data) {
  Json event = base("result");
  event["name"] = name;
  event["data"] = data;
  send(event);
}

void Reporter::log(std::string_view message) {
  Json event = base("log");
  event["message"] = message;
  send(event);
}

void Reporter::warning(std::string_view message, std::string_view where) {
  Json event = base("warning");
  event["message"] = message;
  if (!where.empty()) event["where"] = where;
  send(event);
}

void Reporter::error(std::string_view message, const std::vector<Problem>& problems) {
  Json event = base("error");
  event["message"] = message;
  if (!problems.empty()) {
    Json list = Json::array();
    for (const Problem& p : problems) list.push_back({{"where", p.where}, {"message", p.message}});
    event["problems"] = list;
  }
  send(event);
}

}  // namespace dmoe
