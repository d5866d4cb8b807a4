#include "events/stream_sinks.h"

#include <cmath>
#include <cstdio>

namespace dmoe {

void JsonLinesSink::write(const Json& event) {
  // Invalid UTF-8 in a message (e.g. quoted from a bad corpus line) is replaced, never thrown on;
  // a number that is not finite is refused (util/json.h), never written as null.
  out_ << dumpJson(event, -1, Json::error_handler_t::replace) << '\n';
  out_.flush();
}

std::string TerminalSink::formatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  long total = std::lround(seconds);
  char text[32];
  if (total >= 3600)
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", total / 3600, (total / 60) % 60, total % 60);
  else
    std::snprintf(text, sizeof text, "%ld:%02ld", total / 60, total % 60);
  return text;
}

std::string TerminalSink::progressLine(std::int64_t done, std::int64_t total, const std::string& unit,
                                       double elapsed, int width) {
  double fraction = total > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : 0.0;
  int filled = static_cast<int>(fraction * width);
  std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '-') + "]";
  char text[160];
  double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  std::string eta = (done > 0 && total > done) ? formatDuration(elapsed / done * (total - done)) : "0:00";
  std::snprintf(text, sizeof text, " %3d%%  %lld/%lld %s  %.3g/s  ETA %s", static_cast<int>(fraction * 100),
                static_cast<long long>(done), static_cast<long long>(total), unit.c_str(), rate, eta.c_str());
  return bar + text;
}

std::string TerminalSink::metricsLine(std::int64_t step, const Json& values) {
  std::string line = "step " + std::to_string(step);
  for (auto it = values.begin(); it != values.end(); ++it) {
    // Per-language tables (eval_ppl) would flood the line; their mean is logged beside them.
    if (it.key() == "step" || it.value().is_structured()) continue;
    char number[32];
    if (it.value().is_number())
      std::snprintf(number, sizeof number, "%.4g", it.value().get<double>());
    line += "  " + it.key() + " " + (it.value().is_number() ? std::string(number) : it.value().dump());
  }
  return line;
}

void TerminalSink::endBar() {
  if (barOpen_) out_ << '\n';
  barOpen_ = false;
}

void OtherRankSink::write(const Json& event) {
  const std::string kind = event.value("event", "");
  if (kind != "warning" && kind != "error") return;
  err_ << "[rank " << rank_ << "] " << kind << ": " << event.value("message", "") << '\n' << std::flush;
}

void TerminalSink::write(const Json& event) {
  const std::string kind = event.value("event", "");
  const std::string stage = event.value("stage", "");
  if (kind == "progress") {
    if (!interactive_) return;
    if (!barOpen_ || barStage_ != stage) {
      endBar();
      barStage_ = stage;
      barStart_ = std::chrono::steady_clock::now();
    }
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - barStart_).count();
    std::int64_t done = event.value("done", std::int64_t{0}), total = event.value("total", std::int64_t{0});
    out_ << "\r  " << progressLine(done, total, event.value("unit", ""), elapsed) << "\x1b[K";
    barOpen_ = true;
    if (done >= total) endBar();
    out_.flush();
    return;
  }
  endBar();
  if (kind == "stage") {
    std::string status = event.value("status", "");
    if (status == "started")
      out_ << "==> " << stage << '\n';
    else
      out_ << "<== " << stage << ": " << status << " (" << formatDuration(event.value("t", 0.0)) << ")\n";
  } else if (kind == "log") {
    out_ << "    " << event.value("message", "") << '\n';
  } else if (kind == "metrics") {
    out_ << "    " << metricsLine(event.value("step", std::int64_t{0}), event.value("values", Json::object())) << '\n';
  } else if (kind == "artifact") {
    out_ << "    wrote " << event.value("path", "") << " (" << event.value("kind", "") << ")\n";
  } else if (kind == "warning") {
    out_ << "warning: ";
    if (event.contains("where")) out_ << event["where"].get<std::string>() << ": ";
    out_ << event.value("message", "") << '\n';
  } else if (kind == "error") {
    out_ << "error: " << event.value("message", "") << '\n';
  }
  out_.flush();
}

}  // namespace dmoe
