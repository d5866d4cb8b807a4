// The micro project of the end-to-end tests: 5 training languages (two
// Latin-script pairs of related word lists, two Cyrillic) and 2 new ones
// (Greek, Serbian Cyrillic), 60 synthetic documents each, a 4-layer Llama of
// width 32 — every stage of the pipeline runs on it in seconds. Shared by
// test_pipeline (the CLI) and test_gui_pipeline (the same stages launched
// from the GUI).
#pragma once
#include <filesystem>

#include "util/json.h"

namespace dmoe::test {

// Writes <dir>/corpus/*.jsonl and <dir>/micro.dmoe.json (runs in <dir>/runs);
// `patch` is merged into the project (RFC 7396) before it is written. Returns the project file.
std::filesystem::path writeMicroProject(const std::filesystem::path& dir, const Json& patch = Json::object());

}  // namespace dmoe::test
