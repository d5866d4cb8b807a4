// One writer per runs folder: a `dmoe` command that runs stages holds an
// exclusive lock on <runs_dir>/.lock (flock) while it works, so a second
// command on the same project cannot "resume" from the first one's
// in-progress checkpoints. The lock file names the holder's PID; the kernel
// drops the lock when its process ends, however it ends, so a stale lock of a
// dead process is simply taken. Before the lock, the folder is claimed
// (util/owned_paths.h): a new or empty folder is marked as the workbench's,
// and a non-empty folder it did not make is refused. Once it holds the lock,
// the scratch entries of dead processes (".dmoe-tmp-<pid>-<name>": atomic
// writes, staging and training-sample folders) are removed from the runs
// folder's root and from the folders the workbench made in it; nothing else.
//
// A folder that cannot be written is locked only when its lock file exists (see readOnly()).
//
// Not here: locking between stages of one process (they run in order), or
// across machines (flock on network file systems is not relied upon).
#pragma once
#include <filesystem>
#include <optional>
#include <string>

namespace dmoe {

class RunsFolderLock {
 public:
  // Takes the lock or throws InputError naming the folder and the PID that holds it.
  explicit RunsFolderLock(const std::filesystem::path& runsDir);
  ~RunsFolderLock();
  // How many scratch files or folders of dead processes taking the lock removed.
  int removedScratch() const { return removed_; }
  // The folder exists but cannot be written (read-only file system, no
  // permission): the lock is taken when its file exists (flock works on a
  // read-only descriptor), none is needed when it does not; nothing is
  // removed. Checking whether stages are up to date writes nothing, so a
  // complete read-only folder still reports and skips; a stage that must
  // compute fails at its first write.
  bool readOnly() const { return readOnly_; }
  RunsFolderLock(const RunsFolderLock&) = delete;
  RunsFolderLock& operator=(const RunsFolderLock&) = delete;

 private:
  int fd_ = -1;
  int removed_ = 0;
  bool readOnly_ = false;
};

// The command that holds the lock of `runsDir` now, as the GUI shows it
// instead of starting a second one: its PID (from the lock file) and command
// line (from /proc, "" where unreadable); nullopt when the folder is free or
// has no lock file. Probes by taking and dropping the lock; creates nothing.
// A lock this process holds through another descriptor counts as held.
struct RunsFolderHolder {
  std::string pid, command;
};
std::optional<RunsFolderHolder> runsFolderHolder(const std::filesystem::path& runsDir);

}  // namespace dmoe
