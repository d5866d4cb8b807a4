// What the workbench may delete or replace on disk, and how it proves it made
// it. Nothing the user made is ever deleted: every removal, clearing and
// folder swap the workbench performs goes through this file, and each first
// proves that its target is the workbench's own:
//
//   .dmoe-runs   marks a runs folder the workbench made (or took over empty, or
//                from an earlier version: it held the runs lock file .lock).
//                Only its own records (.lock, this marker) and its children
//                that carry .dmoe-made are the workbench's; anything else a
//                user puts there is left alone.
//   .dmoe-made   marks a folder the workbench made whole: a stage folder, a
//                model folder, an export. The folder and everything inside it
//                are the workbench's, to clear or replace.
//   scratch      ".dmoe-tmp-<pid>-<name>": a temporary file or folder of
//                process <pid> (atomic writes, staging folders), beside its
//                target. Removed only once that process is dead, and only
//                in a marked folder (or, for an export's staging folder,
//                when the staging folder itself is marked).
//
// Not here: what a stage writes (stages/), the runs-folder lock
// (runtime/runs_lock.h), or where a project may put its runs folder
// (project/runs_place.h).
#pragma once
#include <filesystem>
#include <optional>
#include <string>

namespace dmoe {

inline constexpr const char* kRunsMarker = ".dmoe-runs";
inline constexpr const char* kMadeMarker = ".dmoe-made";

// "<parent>/.dmoe-tmp-<this pid>-<name>": the scratch twin of `target`.
std::filesystem::path scratchPath(const std::filesystem::path& target);
// Whether `name` is a scratch name (any PID); `pid` gets the PID when it is.
bool isScratchName(const std::string& name, long* pid = nullptr);
// Whether process `pid` still exists (a PID of another user counts as alive).
bool processAlive(long pid);

// Writes `dir`/.dmoe-made (creating `dir`): {"made_by": "dmoe-workbench",
// "kind": kind}, the kind naming what the folder is ("stage", "model", "export").
void markMade(const std::filesystem::path& dir, const std::string& kind);
// Whether `dir` carries .dmoe-made (of any kind / of `kind`).
bool isMade(const std::filesystem::path& dir);
bool isMade(const std::filesystem::path& dir, const std::string& kind);
// Whether `path` is a marked folder or lies inside one.
bool isInsideMade(const std::filesystem::path& path);

// Removes `path` (file or folder, recursively) when it is a scratch entry of
// a dead process or lies inside a marked folder; anything else is refused
// with an InputError naming it. Missing is fine.
void removeMade(const std::filesystem::path& path);

// Prepares `dir` for outputs made from scratch: creates and marks it when
// absent or empty; clears and re-marks it when it is marked (or is a stage
// folder of an earlier version: it holds inputs.json, the record a stage
// writes first). A non-empty folder the workbench did not
// make is refused with an InputError naming it. Returns whether it removed anything.
bool clearMadeFolder(const std::filesystem::path& dir, const std::string& kind);

// Removes every scratch entry of a dead process directly in `dir`, and in
// every marked folder below it (scratch inside unmarked folders is left).
// Returns how many it removed.
int removeDeadScratch(const std::filesystem::path& dir);
// Removes the staging folders of `target` ("<parent>/.dmoe-tmp-<pid>-<name>")
// that a dead process left, each only when it is marked. Returns how many.
int removeDeadStaging(const std::filesystem::path& target);

// Whether replaceFolder may put a new folder of `kind` in place of `target`
// without setting anything aside: it is absent, an empty folder, marked with
// `kind`, or an unmarked folder inside a marked one.
bool replaceable(const std::filesystem::path& target, const std::string& kind);

// Throws the InputError replaceFolder gives for a `target` that is not
// replaceable (naming it, and what --force would do); returns when it is.
void refuseUnlessReplaceable(const std::filesystem::path& target, const std::string& kind);

// Puts the complete folder `staging` (a scratch folder, marked) in place of
// `target`: when `target` is absent, a rename; when it is replaceable (above),
// the two are exchanged in one atomic rename (Linux renameat2 RENAME_EXCHANGE;
// where the file system refuses that, two renames) and the old one is
// removed, so `target` is always the old or the new folder. Any other
// `target` is refused (InputError) unless
// `setAsideForeign`: then it is renamed, whole, to "<target>.before-dmoe-<n>"
// (kept, never deleted) and that path is returned.
std::optional<std::filesystem::path> replaceFolder(const std::filesystem::path& staging,
                                                   const std::filesystem::path& target, const std::string& kind,
                                                   bool setAsideForeign = false);

// Takes a runs folder for the workbench: creates and marks it when absent or
// empty, accepts it when marked (or when it holds .lock, an earlier version's
// runs folder, which it then marks). A path that is a file, or a non-empty
// folder the workbench did not make, is refused with an InputError naming it.
// A folder nobody here may write is checked, not marked.
void claimRunsFolder(const std::filesystem::path& runsDir);

}  // namespace dmoe
