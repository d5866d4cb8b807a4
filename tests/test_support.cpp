#include "test_support.h"

#include <QProcess>
#include <QStringList>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "util/error.h"
#include "util/json.h"

namespace fs = std::filesystem;

namespace dmoe::test {

static fs::path envPath(const char* name) {
  const char* value = std::getenv(name);
  if (!value) throw std::runtime_error(std::string(name) + " is not set (run the tests through ctest)");
  return value;
}

fs::path sourceDir() { return envPath("DMOE_SOURCE_DIR"); }
fs::path cliPath() { return envPath("DMOE_CLI"); }
fs::path outputDir() {
  fs::path dir = envPath("DMOE_TEST_OUTPUT");
  fs::create_directories(dir);
  return dir;
}

void writeText(const fs::path& file, const std::string& text) {
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out << text;
}

std::string readText(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

CliResult runCli(const std::vector<std::string>& args, const fs::path& workdir, int timeoutMs) {
  QProcess process;
  QStringList list;
  for (const std::string& a : args) list << QString::fromStdString(a);
  if (!workdir.empty()) process.setWorkingDirectory(QString::fromStdString(workdir.string()));
  process.start(QString::fromStdString(cliPath().string()), list);
  CliResult result;
  if (!process.waitForFinished(timeoutMs)) {
    process.kill();
    process.waitForFinished();
    result.err = "timed out";
    return result;
  }
  result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
  result.out = process.readAllStandardOutput().toStdString();
  result.err = process.readAllStandardError().toStdString();
  return result;
}

std::string metricsWithoutTimings(const fs::path& file) {
  std::istringstream lines(readText(file));
  std::string out;
  for (std::string line; std::getline(lines, line);) {
    Json values = Json::parse(line);
    values.erase("tokens_per_s");
    values.erase("step_time_s");
    values.erase("eval_s");
    out += values.dump() + "\n";
  }
  return out;
}

std::string inputErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

}  // namespace dmoe::test
