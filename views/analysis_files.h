// How the analysis views and the adaptation wizard load the result files the
// headless pipeline writes under the runs folder (formats and readers:
// core's results/*_file.h; paths: results/run_layout.h): the file read, or
// in its place what the view shows — which stage to run, and why when the
// file exists but is unreadable.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "results/adaptation_file.h"
#include "results/deviation_file.h"
#include "results/groups_file.h"
#include "results/probe_file.h"
#include "results/run_layout.h"
#include "results/selection_file.h"
#include "results/similarity_file.h"

namespace dmoe::views {

// "Run `dmoe deviation` (Stages menu) to see the deviation heatmap."
std::string missingArtifactMessage(const std::string& stage, const std::string& what);
// The reader's error (file and JSON path), then "Run `dmoe <stage>` again (Stages menu)."
std::string unreadableArtifactMessage(const std::string& stage, const std::string& error);

// T::read(file), or nullopt with `problem` set to one of the messages above.
template <class T>
std::optional<T> loadArtifact(const std::filesystem::path& file, const std::string& stage, const std::string& what,
                              std::string& problem) {
  problem.clear();
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    problem = missingArtifactMessage(stage, what);
    return std::nullopt;
  }
  try {
    return T::read(file);
  } catch (const std::exception& e) {
    problem = unreadableArtifactMessage(stage, e.what());
    return std::nullopt;
  }
}

}  // namespace dmoe::views
