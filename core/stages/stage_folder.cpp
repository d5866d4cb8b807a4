// Stage folders and manifests (see the header).
#include "stages/stage_folder.h"

#include <map>

#include "runtime/device.h"
#include "runtime/distributed.h"

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/owned_paths.h"

namespace fs = std::filesystem;

namespace dmoe {

StageFolder::StageFolder(std::filesystem::path dir, Json inputs) : dir_(std::move(dir)), inputs_(std::move(inputs)) {
  const std::string precision = computePrecisionTag();
  if (!precision.empty()) inputs_["precision"] = precision;
}

namespace {
Json readJsonOrNull(const fs::path& file) {
  if (!fs::exists(file)) return Json();
  try {
    return readJsonFile(file);
  } catch (const InputError&) {
    return Json();  // a damaged record counts as absent: the stage recomputes
  }
}
// The folder's outputs as {relative path: {"bytes", "fnv1a64"}}: every regular
// file except the records themselves, training logs (metrics.jsonl),
// training checkpoints (resume state, checked when read), scratch files and
// nested stage folders (their own manifests cover them).
Json outputFiles(const fs::path& dir) {
  std::map<std::string, Json> sorted;  // by path: directory order differs between file systems
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path& path = it->path();
    const std::string name = path.filename().string();
    if (it->is_directory()) {
      if (name == "checkpoints" || name.rfind(".", 0) == 0 || fs::exists(path / "manifest.json")) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file() || isScratchName(name) || name == kMadeMarker) continue;
    const fs::path relative = path.lexically_relative(dir);
    if (relative == "manifest.json" || relative == "inputs.json") continue;
    // Training logs carry wall-clock speeds: recording them would make the
    // manifest, and every downstream fingerprint, differ between equal runs.
    if (name == "metrics.jsonl") continue;
    sorted[relative.generic_string()] = {{"bytes", static_cast<std::int64_t>(it->file_size())},
                                         {"fnv1a64", Hasher().addFile(path).hex()}};
  }
  Json files = Json::object();
  for (auto& [relative, record] : sorted) files[relative] = std::move(record);
  return files;
}

// The first output the manifest recorded that is missing, has another size,
// or — only when it was modified after the manifest was written, so a check
// reads no file the stage left alone — has other bytes: "<path> is missing" /
// "<path> changed size (…)" / "<path> changed content (…)"; empty when none.
// Manifests from before hashes record a size alone ({path: bytes}); those
// from before the record have no "files".
std::string changedOutput(const fs::path& dir, const Json& manifest) {
  const Json files = manifest.value("files", Json::object());  // kept alive: items() refers to it
  std::error_code ec;
  const auto completed = fs::last_write_time(dir / "manifest.json", ec);
  for (const auto& [relative, record] : files.items()) {
    const fs::path file = dir / relative;
    const auto now = fs::file_size(file, ec);
    if (ec) return file.string() + " is missing";
    const std::int64_t bytes = record.is_object() ? record.value("bytes", std::int64_t{-1}) : record.get<std::int64_t>();
    if (static_cast<std::int64_t>(now) != bytes)
      return file.string() + " changed size (" + std::to_string(now) + " bytes, " + std::to_string(bytes) +
             " when the stage completed)";
    if (!record.is_object() || !record.contains("fnv1a64")) continue;
    const auto modified = fs::last_write_time(file, ec);
    if (ec || modified <= completed) continue;
    const std::string hash = Hasher().addFile(file).hex();
    if (hash != record["fnv1a64"].get<std::string>())
      return file.string() + " changed content (FNV-1a " + hash + ", " + record["fnv1a64"].get<std::string>() +
             " when the stage completed)";
  }
  return {};
}

// `from`'s files into `to` (created), hard-linked where possible: all but
// dot-files (the marker, scratch), inputs.json (the record of a run in
// progress), checkpoints and nested stage folders.
void copyStageFiles(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (auto it = fs::recursive_directory_iterator(from); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path& path = it->path();
    const std::string name = path.filename().string();
    const fs::path relative = path.lexically_relative(from);
    if (it->is_directory()) {
      if (name == "checkpoints" || name.rfind(".", 0) == 0 || fs::exists(path / "manifest.json"))
        it.disable_recursion_pending();
      else
        fs::create_directories(to / relative);
      continue;
    }
    if (!it->is_regular_file() || name.rfind(".", 0) == 0 || relative == "inputs.json") continue;
    std::error_code linkError;
    fs::create_hard_link(path, to / relative, linkError);
    // Another file system, or links refused: a copy. Never over an existing file (it could be a link).
    if (linkError && linkError != std::errc::file_exists) fs::copy_file(path, to / relative);
    else if (linkError) throw fs::filesystem_error("stage cache copy", to / relative, linkError);
  }
}

struct Cache {
  fs::path root;
  std::string context;
};
Cache& cacheSetting() {
  static Cache cache;
  return cache;
}
const fs::path& cacheRoot() { return cacheSetting().root; }

Json completedManifest(const fs::path& dir) {
  Json manifest = readJsonOrNull(dir / "manifest.json");
  if (!manifest.is_object()) throw InputError((dir / "manifest.json").string() + ": the stage has not completed");
  return manifest;
}

}  // namespace

bool StageFolder::upToDate() const {
  Json manifest = readJsonOrNull(dir_ / "manifest.json");
  return manifest.is_object() && manifest.value("inputs", Json()) == inputs_;
}

void StageFolder::begin(bool force, Reporter& reporter) {
  const bool sameRun = readJsonOrNull(dir_ / "inputs.json") == inputs_;
  if (force || !sameRun) {
    // Only a folder the workbench made is cleared (util/owned_paths.h); anything else is refused.
    if (clearMadeFolder(dir_, "stage") && !force) reporter.log("inputs changed since the last run: recomputing " + dir_.string());
  } else if (!isMade(dir_)) {
    markMade(dir_, "stage");  // an interrupted run of an earlier version, resumed: its inputs.json is the proof
  }
  removeMade(dir_ / "manifest.json");
  writeFileAtomic(dir_ / "inputs.json", dumpJson(inputs_, 2) + "\n");
}

void StageFolder::complete(const Json& outputs) const {
  writeFileAtomic(dir_ / "manifest.json",
                  dumpJson(Json{{"inputs", inputs_}, {"outputs", outputs}, {"files", outputFiles(dir_)}}, 2) + "\n");
}

bool StageFolder::current(bool force, const fs::path& product, std::string* changed) const {
  if (force || !upToDate() || !fs::exists(product)) return false;
  const std::string found = changedOutput(dir_, readJsonOrNull(dir_ / "manifest.json"));
  if (changed) *changed = found;
  return found.empty();
}

bool StageFolder::run(bool force, Reporter& reporter, const std::string& what, const fs::path& product,
                      const std::function<Json()>& compute) {
  // Of several processes (runtime/distributed.h), rank 0 decides, prepares
  // and completes the folder; all of them compute.
  std::string changed;
  if (agreeWithMain(isMainProcess() && current(force, product, &changed))) {  // only rank 0 reads the folder
    reporter.log(what + " is up to date: " + product.string());
    return false;
  }
  if (agreeWithMain(isMainProcess() && inCache(force))) {  // rank 0's cache decides
    bool restored = false;
    runOnMain("restoring " + dir_.string() + " from the stage cache", [&] { restored = restoreFromCache(product, reporter); });
    if (agreeWithMain(isMainProcess() && restored)) {
      reporter.log(what + " restored from the stage cache (" + cacheEntry().string() + "): " + product.string());
      return false;
    }
  }
  if (!changed.empty()) reporter.warning(changed + " since the stage completed: recomputing " + dir_.string(), "");
  runOnMain("preparing " + dir_.string(), [&] { begin(force, reporter); });
  const Json outputs = compute();
  barrier("computing " + what);
  runOnMain("completing " + dir_.string(), [&] {
    complete(outputs);
    keepInCache(reporter);
  });
  return true;
}

void StageFolder::setCache(const fs::path& dir, const std::string& context) {
  cacheSetting() = {dir.empty() ? dir : fs::absolute(dir), context};
}

const fs::path& StageFolder::cache() { return cacheRoot(); }

fs::path StageFolder::cacheEntry() const {
  return cacheRoot() / (dir_.filename().string() + "-" + hashHex(dumpJson(inputs_, -1) + cacheSetting().context));
}

bool StageFolder::inCache(bool force) const {
  if (force || !cacheable_ || cacheRoot().empty()) return false;
  const Json manifest = readJsonOrNull(cacheEntry() / "manifest.json");
  return manifest.is_object() && manifest.value("inputs", Json()) == inputs_;
}

bool StageFolder::restoreFromCache(const fs::path& product, Reporter& reporter) const {
  const fs::path entry = cacheEntry();
  clearMadeFolder(dir_, "stage");  // a folder the workbench did not make is refused, as when computing
  try {
    copyStageFiles(entry, dir_);
    if (current(false, product)) return true;
  } catch (const fs::filesystem_error& e) {
    reporter.warning(std::string("could not copy from the stage cache: ") + e.what(), "");
    return false;  // computed instead; begin() clears the partial copy
  }
  try {
    removeMade(entry);  // marked when kept; anything else is refused, and the stage simply computes
    reporter.warning(entry.string() + " does not hold what its manifest records: removed from the stage cache", "");
  } catch (const std::exception& e) {
    reporter.warning(entry.string() + " does not hold what its manifest records (not removed: " + e.what() + ")", "");
  }
  return false;
}

void StageFolder::keepInCache(Reporter& reporter) const {
  if (!cacheable_ || cacheRoot().empty()) return;
  const fs::path entry = cacheEntry();
  const fs::path staging = scratchPath(entry);
  try {
    const fs::path kept = entry / "manifest.json";
    if (fs::exists(kept) && readFile(kept) == readFile(dir_ / "manifest.json")) return;
    fs::create_directories(cacheRoot());
    // Only folders marked as ours are ever removed here: a copy a dead process with this PID left is
    // marked (marked before anything goes in), anything else of that name is refused.
    if (fs::exists(staging)) removeMade(staging);
    markMade(staging, "stage");
    copyStageFiles(dir_, staging);
    if (fs::exists(entry)) removeMade(entry);  // another run of these inputs, or an incomplete entry: replaced
    fs::rename(staging, entry);
  } catch (const std::exception& e) {
    std::error_code ignored;
    if (isMade(staging)) fs::remove_all(staging, ignored);  // this process's own copy
    // The stage itself completed; only its copy for other runs folders failed.
    reporter.warning("could not keep " + dir_.string() + " in the stage cache " + cacheRoot().string() + ": " + e.what(),
                     "");
  }
}

Json StageFolder::outputs() const { return completedManifest(dir_).value("outputs", Json::object()); }

Json StageFolder::recordedInputs() const { return completedManifest(dir_).value("inputs", Json::object()); }

std::string StageFolder::fingerprint(const fs::path& dir, const std::string& makerCommand) {
  const fs::path manifest = dir / "manifest.json";
  if (!fs::exists(manifest))
    throw InputError(manifest.string() + " is missing: run `" + makerCommand + "` first (or `dmoe run`)");
  return Hasher().addFile(manifest).hex();
}

}  // namespace dmoe
