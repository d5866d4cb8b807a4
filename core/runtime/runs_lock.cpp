// The runs folder lock (see the header).
#include "runtime/runs_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "util/error.h"

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

// "<anything>.tmp-<digits>" or ".training-<digits>": a scratch name of this program.
bool isScratchName(const std::string& name) {
  for (const std::string& marker : {std::string(".tmp-"), std::string(".training-")}) {
    const size_t at = name.rfind(marker);
    if (at == std::string::npos || at + marker.size() == name.size()) continue;
    if (marker == ".training-" && at != 0) continue;
    if (name.find_first_not_of("0123456789", at + marker.size()) == std::string::npos) return true;
  }
  return false;
}

int removeScratch(const fs::path& runsDir) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(runsDir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (isScratchName(it->path().filename().string())) {
      found.push_back(it->path());
      if (it->is_directory()) it.disable_recursion_pending();
    }
  for (const fs::path& path : found) fs::remove_all(path, ec);
  return static_cast<int>(found.size());
}

}  // namespace

RunsFolderLock::RunsFolderLock(const fs::path& runsDir) {
  std::error_code made;
  fs::create_directories(runsDir, made);  // an existing folder on a read-only file system is fine
  const fs::path file = runsDir / ".lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0 && (errno == EROFS || errno == EACCES)) {
    // flock works on a read-only descriptor: a lock file we may not write still locks.
    fd_ = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0 && fs::is_directory(runsDir) && ::access(runsDir.c_str(), W_OK) != 0) {
      // No lock file and a folder nobody here can write: no other writer to keep
      // out. Stages that are up to date are read as they are; one that is not
      // fails at its first write.
      readOnly_ = true;
      return;
    }
  }
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
  removed_ = removeScratch(runsDir);
}

std::optional<RunsFolderHolder> runsFolderHolder(const fs::path& runsDir) {
  const int fd = ::open((runsDir / ".lock").c_str(), O_RDONLY | O_CLOEXEC);
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
