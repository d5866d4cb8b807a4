// A sweep file (*.sweep.json, format "dmoe-sweep/1"): one project run over
// a grid of settings (cells) × seeds, as `dmoe sweep` reads it:
//
//   {"format": "dmoe-sweep/1",
//    "description": "optional text",
//    "project": "<project file, relative to the sweep file>",
//    "seeds": [1234, 2],
//    "cells": {"<name>": {"patch": {…}, "label": "optional text"}, …}}
//
// A cell's patch is a JSON merge patch (RFC 7396) of the project file: its
// keys replace the project's, objects merge key by key, null removes a key
// (the default applies); paths in it are read as the project file's are.
// Cell names are folder names (letters, digits, '.', '_', '-'; first a
// letter or digit; at most 64); the cells run in the file's order. Reading
// checks the shape only, each problem an InputError "<file>: <JSON path>:
// expected …"; whether a patched project is valid is the project's check
// (pipeline/sweep.h plans the runs).
//
// Not here: the runs and their tables (pipeline/sweep.h, results/sweep_table.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "util/json.h"

namespace dmoe {

inline constexpr const char* kSweepFormat = "dmoe-sweep/1";

struct SweepCell {
  std::string name, label;
  Json patch = Json::object();  // absent in the file: {} (the project as it is)
};

struct SweepFile {
  std::filesystem::path file;     // absolute
  std::filesystem::path project;  // absolute
  std::string description;
  std::vector<std::int64_t> seeds;  // distinct, ≥ 0, in the file's order
  std::vector<SweepCell> cells;     // in the file's order

  static SweepFile read(const std::filesystem::path& file);
  // `file` locates the project path and names the document in errors; it need not exist.
  static SweepFile fromJson(const Json& document, const std::filesystem::path& file);
  // The sweep's output folder when none is given: beside the file, its name
  // without ".sweep.json" (or ".json"; other names get "-sweep" appended).
  std::filesystem::path defaultOutDir() const;
  // The cell named `name`; InputError listing the cells when there is none.
  const SweepCell& cell(const std::string& name) const;
};

}  // namespace dmoe
