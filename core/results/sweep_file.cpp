#include "results/sweep_file.h"

#include <cctype>
#include <cstdint>
#include <set>

#include "results/json_reader.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

bool isCellName(const std::string& name) {
  if (name.empty() || name.size() > 64 || !std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

// Every key of `object` (at `path`) is one of `allowed`.
void checkKeys(const JsonReader& in, const Json& object, const std::string& path, const std::set<std::string>& allowed,
               const std::string& expected) {
  for (const auto& [key, value] : object.items())
    if (!allowed.count(key)) in.fail(path + "/" + jsonPointerToken(key), expected + " (unknown key)");
}

std::vector<std::int64_t> readSeeds(const JsonReader& in, const Json& seeds) {
  if (!seeds.is_array() || seeds.empty()) in.fail("/seeds", "a non-empty list of seeds (integers ≥ 0)");
  std::vector<std::int64_t> out;
  for (size_t i = 0; i < seeds.size(); ++i) {
    const std::string at = "/seeds/" + std::to_string(i);
    const Json& s = seeds[i];
    const bool valid = s.is_number_unsigned() ? s.get<std::uint64_t>() <= std::uint64_t(INT64_MAX)
                                              : s.is_number_integer() && s.get<std::int64_t>() >= 0;
    if (!valid) in.fail(at, "a seed (an integer from 0 to 2^63 - 1)");
    const std::int64_t seed = seeds[i].get<std::int64_t>();
    for (std::int64_t earlier : out)
      if (earlier == seed) in.fail(at, "each seed once (" + std::to_string(seed) + " is listed twice)");
    out.push_back(seed);
  }
  return out;
}

SweepCell readCell(const JsonReader& in, const std::string& name, const Json& entry) {
  const std::string at = "/cells/" + jsonPointerToken(name);
  if (!isCellName(name))
    in.fail(at, "a cell name usable as a folder name: letters, digits, '.', '_' and '-', starting with a letter or "
                "digit, at most 64 characters");
  if (!entry.is_object()) in.fail(at, "an object {\"patch\": {…}, \"label\": \"…\"}");
  checkKeys(in, entry, at, {"patch", "label"}, "patch or label");
  SweepCell cell;
  cell.name = name;
  if (entry.contains("label")) cell.label = in.string(entry["label"], at + "/label");
  if (entry.contains("patch")) {
    if (!entry["patch"].is_object()) in.fail(at + "/patch", "an object (a merge patch of the project file)");
    cell.patch = entry["patch"];
  }
  return cell;
}

}  // namespace

SweepFile SweepFile::fromJson(const Json& document, const fs::path& file) {
  const JsonReader in(document, file.string());
  const Json& root = in.root();
  if (!root.is_object()) throw InputError(file.string() + ": expected a JSON object (a sweep file)");
  checkKeys(in, root, "", {"format", "description", "project", "seeds", "cells"},
            "format, description, project, seeds or cells");
  if (in.at(root, "format", "") != kSweepFormat) in.fail("/format", std::string("\"") + kSweepFormat + "\"");
  SweepFile sweep;
  sweep.file = fs::absolute(file).lexically_normal();
  if (root.contains("description")) sweep.description = in.string(root["description"], "/description");
  const std::string project = in.string(in.at(root, "project", ""), "/project");
  if (project.empty()) in.fail("/project", "the project file's path");
  sweep.project = (sweep.file.parent_path() / project).lexically_normal();
  sweep.seeds = readSeeds(in, in.at(root, "seeds", ""));
  const Json& cells = in.at(root, "cells", "");
  if (!cells.is_object() || cells.empty()) in.fail("/cells", "a non-empty object {\"<cell name>\": {\"patch\": {…}}}");
  for (const auto& [name, entry] : cells.items()) sweep.cells.push_back(readCell(in, name, entry));
  return sweep;
}

SweepFile SweepFile::read(const fs::path& file) {
  const std::string text = readFile(file);
  const Json document = parseJsonText(text, file.string());
  for (const std::string& pointer : duplicateKeyPointers(text))
    throw InputError(file.string() + ": " + pointer + ": expected each key once (it is given more than once)");
  return fromJson(document, file);
}

fs::path SweepFile::defaultOutDir() const {
  const std::string name = file.filename().string();
  for (const char* suffix : {".sweep.json", ".json"})
    if (endsWith(name, suffix) && name.size() > std::string(suffix).size())
      return file.parent_path() / name.substr(0, name.size() - std::string(suffix).size());
  return file.parent_path() / (name + "-sweep");
}

const SweepCell& SweepFile::cell(const std::string& name) const {
  std::string names;
  for (const SweepCell& c : cells) {
    if (c.name == name) return c;
    names += (names.empty() ? "" : ", ") + c.name;
  }
  throw InputError(file.string() + ": no cell '" + name + "' (cells: " + names + ")");
}

}  // namespace dmoe
