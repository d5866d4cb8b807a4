// The runs folder lock (see the header).
#include "runtime/runs_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "util/error.h"
#include "util/owned_paths.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// The PID the lock file records ("" when it records none).
std::string holderOf(int fd) {
  char buffer[32] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  std::string pid(buffer, n > 0 ? static_cast<size_t>(n) : 0);
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid;
}

// Opens the lock file without blocking (a FIFO in its place would), and only
// a regular one: -1 with errno EINVAL for anything else.
int openLockFile(const fs::path& file, int flags) {
  const int fd = ::open(file.c_str(), flags | O_NONBLOCK | O_CLOEXEC, 0644);
  struct stat status {};
  if (fd < 0 || (::fstat(fd, &status) == 0 && S_ISREG(status.st_mode))) return fd;
  ::close(fd);
  errno = EINVAL;
  return -1;
}

}  // namespace

RunsFolderLock::RunsFolderLock(const fs::path& runsDir) {
  claimRunsFolder(runsDir);  // a new, empty or marked folder only: the workbench's own
  const fs::path file = runsDir / ".lock";
  fd_ = openLockFile(file, O_RDWR | O_CREAT);
  if (fd_ < 0 && (errno == EROFS || errno == EACCES)) {
    // flock works on a read-only descriptor: a lock file we may not write still locks.
    fd_ = openLockFile(file, O_RDONLY);
    if (fd_ < 0 && fs::is_directory(runsDir) && ::access(runsDir.c_str(), W_OK) != 0) {
      // No lock file and a folder nobody here can write: no other writer to keep
      // out. Stages that are up to date are read as they are; one that is not
      // fails at its first write.
      readOnly_ = true;
      return;
    }
  }
  if (fd_ < 0 && errno == EINVAL)
    throw InputError(file.string() + ": not a regular file (the runs folder's lock file must be one; remove it)");
  if (fd_ < 0) throw InputError("cannot open " + file.string() + ": " + std::strerror(errno));
  // A moment's wait: the GUI's probe (runsFolderHolder) holds the lock for microseconds.
  int cause = 0;
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
      cause = 0;
      break;
    }
    cause = errno;
    if (cause != EWOULDBLOCK) break;
    ::usleep(10000);
  }
  if (cause != 0) {
    const std::string pid = holderOf(fd_);
    ::close(fd_);
    fd_ = -1;
    if (cause == EWOULDBLOCK)
      throw InputError(runsDir.string() + " is in use by another dmoe command" +
                       (pid.empty() ? std::string() : " (PID " + pid + ")") +
                       ": wait until it ends, or stop it (a stopped run resumes when started again)");
    throw InputError("cannot lock " + file.string() + ": " + std::strerror(cause));
  }
  readOnly_ = ::access(runsDir.c_str(), W_OK) != 0;
  if (readOnly_) return;  // held, but nothing here can be written or removed
  // The PID only serves a second command's message: the lock holds whether or not it is written.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, pid.data(), pid.size(), 0);
  removed_ = removeDeadScratch(runsDir);
}

std::optional<RunsFolderHolder> runsFolderHolder(const fs::path& runsDir) {
  const int fd = openLockFile(runsDir / ".lock", O_RDONLY);
  if (fd < 0) return std::nullopt;
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
    ::close(fd);  // free: closing drops the probe's lock
    return std::nullopt;
  }
  RunsFolderHolder holder{holderOf(fd), {}};
  ::close(fd);
  if (holder.pid.find_first_not_of("0123456789") != std::string::npos) holder.pid.clear();  // not a PID: no /proc path from it
  std::ifstream cmdline("/proc/" + holder.pid + "/cmdline", std::ios::binary);
  for (std::string argument; !holder.pid.empty() && std::getline(cmdline, argument, '\0');)
    holder.command += (holder.command.empty() ? "" : " ") + argument;
  return holder;
}

RunsFolderLock::~RunsFolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the lock
}

}  // namespace dmoe
