#include "analysis_files.h"

namespace dmoe::views {

std::string missingArtifactMessage(const std::string& stage, const std::string& what) {
  return "Run `dmoe " + stage + "` (Stages menu) to see " + what + ".";
}

std::string unreadableArtifactMessage(const std::string& stage, const std::string& error) {
  return error + "\nRun `dmoe " + stage + "` again (Stages menu).";
}

}  // namespace dmoe::views
