// Helpers shared by the test suites: scratch folders, fixture writing,
// running the `dmoe` binary, and the locations ctest passes in.
#pragma once
#include <QTemporaryDir>
#include <QString>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

// Fails the test unless `text` contains `part`, printing both. `text` is
// evaluated once (it is often a call with side effects, as inputErrorOf).
#define QVERIFY_CONTAINS(text, part)                                                                   \
  do {                                                                                                 \
    const std::string qverifyContainsText_(text);                                                      \
    QVERIFY2(qverifyContainsText_.find(part) != std::string::npos,                                     \
             (qverifyContainsText_ + " lacks: " + (part)).c_str());                                     \
  } while (false)

namespace dmoe::test {

std::filesystem::path sourceDir();  // DMOE_SOURCE_DIR
std::filesystem::path outputDir();  // DMOE_TEST_OUTPUT (created)
std::filesystem::path cliPath();    // DMOE_CLI

void writeText(const std::filesystem::path& file, const std::string& text);
std::string readText(const std::filesystem::path& file);

struct CliResult {
  int exitCode = -1;
  std::string out, err;
};
// Runs `dmoe args...` (no shell), waits up to `timeoutMs`.
CliResult runCli(const std::vector<std::string>& args, const std::filesystem::path& workdir = {},
                 int timeoutMs = 120000);

// A training run's metrics.jsonl as compared between runs: every line without
// its wall-clock fields (tokens_per_s, step_time_s, eval_s), which differ between any two runs.
std::string metricsWithoutTimings(const std::filesystem::path& file);

// The message of the dmoe::InputError `f` throws, or "(no InputError)".
std::string inputErrorOf(const std::function<void()>& f);

}  // namespace dmoe::test
