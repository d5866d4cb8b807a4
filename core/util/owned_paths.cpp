// Owned paths (see the header).
#include "util/owned_paths.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

constexpr std::string_view kScratchPrefix = ".dmoe-tmp-";

// `target` without a trailing separator ("out/" → "out").
fs::path named(const fs::path& target) { return target.has_filename() ? target : target.parent_path(); }

bool regularFile(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// The folder's .dmoe-made kind ("" when unmarked or unreadable).
std::string madeKind(const fs::path& dir) {
  if (!regularFile(dir / kMadeMarker)) return {};
  try {
    const Json marker = parseJsonText(readFile(dir / kMadeMarker), (dir / kMadeMarker).string());
    return marker.is_object() ? marker.value("kind", std::string("folder")) : std::string("folder");
  } catch (const std::exception&) {
    return "folder";  // damaged, but the name is the workbench's
  }
}

bool emptyFolder(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::is_empty(dir, ec);
}

// A stage folder of a version before .dmoe-made: it holds inputs.json, the
// record a stage writes first (manifest.json alone is too common a name to prove it).
bool earlierStageFolder(const fs::path& dir) { return regularFile(dir / "inputs.json"); }

// A scratch entry this process may remove: its own, or a dead process's.
bool removableScratch(const std::string& name) {
  long pid = 0;
  return isScratchName(name, &pid) && (pid == static_cast<long>(::getpid()) || !processAlive(pid));
}

// Removes the dead processes' scratch entries in `dir` when `removeHere`, and
// in every folder below it that is marked or inside a marked one (`insideMade`
// says `dir` is), however deep; links are not followed.
int sweep(const fs::path& dir, bool removeHere, bool insideMade) {
  int removed = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    long pid = 0;
    if (removeHere && isScratchName(path.filename().string(), &pid) && pid != static_cast<long>(::getpid()) &&
        !processAlive(pid)) {
      std::error_code gone;
      fs::remove_all(path, gone);  // a dead process's scratch, in a folder of the workbench's
      if (!gone) ++removed;
      continue;
    }
    std::error_code kind;
    if (it->is_directory(kind) && !it->is_symlink(kind)) {
      const bool inside = insideMade || isMade(path);
      removed += sweep(path, inside, inside);
    }
  }
  return removed;
}

}  // namespace

fs::path scratchPath(const fs::path& target) {
  const fs::path t = named(target);
  return t.parent_path() / (std::string(kScratchPrefix) + std::to_string(::getpid()) + "-" + t.filename().string());
}

bool isScratchName(const std::string& name, long* pid) {
  if (name.compare(0, kScratchPrefix.size(), kScratchPrefix) != 0) return false;
  const size_t digits = kScratchPrefix.size();
  const size_t dash = name.find('-', digits);
  if (dash == std::string::npos || dash == digits || dash + 1 == name.size() || dash - digits > 10) return false;
  if (name.find_first_not_of("0123456789", digits) != dash) return false;
  if (pid) *pid = std::stol(name.substr(digits, dash - digits));
  return true;
}

bool processAlive(long pid) {
  if (pid <= 0) return true;  // not a process of its own: never taken for dead
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

void markMade(const fs::path& dir, const std::string& kind) {
  fs::create_directories(dir);
  writeFileAtomic(dir / kMadeMarker, dumpJson(Json{{"made_by", "dmoe-workbench"}, {"kind", kind}}, -1) + "\n");
}

bool isMade(const fs::path& dir) { return regularFile(dir / kMadeMarker); }

bool isMade(const fs::path& dir, const std::string& kind) { return madeKind(dir) == kind; }

bool isInsideMade(const fs::path& path) {
  fs::path p = fs::absolute(path).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();
  for (;; p = p.parent_path()) {
    if (isMade(p)) return true;
    if (p == p.root_path() || p.parent_path() == p) return false;
  }
}

void removeMade(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return;
  if (!removableScratch(named(path).filename().string()) && !isInsideMade(path))
    throw InputError("refusing to delete " + path.string() + ": dmoe-workbench did not make it (no " +
                     std::string(kMadeMarker) + " in it or above it)");
  fs::remove_all(path);
}

bool clearMadeFolder(const fs::path& dir, const std::string& kind) {
  std::error_code ec;
  if (!fs::exists(fs::status(dir, ec))) {
    markMade(dir, kind);
    return false;
  }
  if (!fs::is_directory(fs::status(dir, ec)))
    throw InputError(dir.string() + " is a file where dmoe writes a folder of results: move it away");
  if (fs::is_empty(dir, ec)) {
    markMade(dir, kind);
    return false;
  }
  if (!isMade(dir) && !earlierStageFolder(dir))
    throw InputError(dir.string() + " is not empty and was not made by dmoe-workbench (no " + std::string(kMadeMarker) +
                     "): dmoe never deletes what it did not make; move that folder away");
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) fs::remove_all(entry.path());  // a marked folder's own
  markMade(dir, kind);
  return true;
}

int removeDeadScratch(const fs::path& dir) { return sweep(dir, true, isInsideMade(dir)); }

int removeDeadStaging(const fs::path& target) {
  const fs::path t = fs::absolute(named(target));
  const std::string tail = "-" + t.filename().string();
  int removed = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(t.parent_path(), ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    long pid = 0;
    if (!isScratchName(name, &pid) || pid == static_cast<long>(::getpid()) || processAlive(pid)) continue;
    if (name.size() <= tail.size() || name.compare(name.size() - tail.size(), tail.size(), tail) != 0) continue;
    if (!isMade(it->path())) continue;  // only a staging folder the workbench marked
    std::error_code gone;
    fs::remove_all(it->path(), gone);
    if (!gone) ++removed;
  }
  return removed;
}

bool replaceable(const fs::path& target, const std::string& kind) {
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(target, ec);
  if (!fs::exists(status)) return true;
  if (!fs::is_directory(status)) return false;
  if (emptyFolder(target) || isMade(target, kind)) return true;
  // A folder without a marker of its own inside a marked one (a stage folder's
  // model folder written by an earlier version) is the workbench's too.
  return !isMade(target) && isInsideMade(target.parent_path());
}

namespace {

// "<target>.before-dmoe-<n>" for the first n that is free.
fs::path asideName(const fs::path& target) {
  for (int n = 1;; ++n) {
    fs::path aside = target;
    aside += ".before-dmoe-" + std::to_string(n);
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(aside, ec))) return aside;
  }
}

// Exchanges two paths atomically; false where the system or file system cannot.
bool exchange(const fs::path& a, const fs::path& b) {
#ifdef RENAME_EXCHANGE
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) return true;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
    throw std::runtime_error("cannot exchange " + a.string() + " and " + b.string() + ": " + std::strerror(errno));
#endif
  (void)a;
  (void)b;
  return false;
}

}  // namespace

void refuseUnlessReplaceable(const fs::path& target, const std::string& kind) {
  if (replaceable(target, kind)) return;
  throw InputError(named(target).string() + " is not empty and holds no earlier dmoe-workbench " + kind + " (no " +
                   std::string(kMadeMarker) + " of kind \"" + kind + "\"): dmoe never deletes what it did not write; " +
                   "choose a new or empty folder, or --force to keep that folder whole as " +
                   asideName(named(target)).string() + " and write in its place");
}

std::optional<fs::path> replaceFolder(const fs::path& staging, const fs::path& targetIn, const std::string& kind,
                                      bool setAsideForeign) {
  const fs::path target = named(targetIn);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(target, ec))) {
    if (target.has_parent_path()) fs::create_directories(target.parent_path());
    fs::rename(staging, target);
    return std::nullopt;
  }
  if (!replaceable(target, kind)) {
    if (!setAsideForeign) refuseUnlessReplaceable(target, kind);
    const fs::path aside = asideName(target);
    fs::rename(target, aside);  // kept whole, never deleted
    fs::rename(staging, target);
    return aside;
  }
  if (exchange(staging, target)) {
    removeMade(staging);  // now the old folder, under this process's scratch name
    return std::nullopt;
  }
  fs::path old = target.parent_path() / (target.filename().string() + "-old");
  old = scratchPath(old);
  fs::rename(target, old);
  fs::rename(staging, target);
  removeMade(old);
  return std::nullopt;
}

void claimRunsFolder(const fs::path& runsDir) {
  std::error_code ec;
  const fs::file_status status = fs::status(runsDir, ec);
  if (fs::exists(status) && !fs::is_directory(status))
    throw InputError(runsDir.string() + " is a file: runs_dir must name a folder (a new one, or one dmoe made)");
  if (!fs::exists(status)) {
    fs::create_directories(runsDir, ec);
    if (ec) throw InputError("cannot create the runs folder " + runsDir.string() + ": " + ec.message());
  } else if (regularFile(runsDir / kRunsMarker)) {
    return;
  } else if (!regularFile(runsDir / ".lock") && !fs::is_empty(runsDir, ec)) {
    throw InputError(runsDir.string() + " is not empty and is not a runs folder of dmoe-workbench (no " +
                     std::string(kRunsMarker) +
                     "): runs_dir must be a new or empty folder, which dmoe then owns; choose another runs_dir");
  }
  if (::access(runsDir.c_str(), W_OK) != 0) return;  // read-only: checked, nothing to mark
  writeFileAtomic(runsDir / kRunsMarker,
                  "A runs folder of DMoE Workbench. dmoe replaces the folders it made here (those holding " +
                      std::string(kMadeMarker) + ") and never touches anything else.\n");
}

}  // namespace dmoe
