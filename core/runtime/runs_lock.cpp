// The runs folder lock (see the header).
#include "runtime/runs_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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
  fs::create_directories(runsDir);
  const fs::path file = runsDir / ".lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw InputError("cannot open " + file.string() + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int cause = errno;
    const std::string pid = holderOf(fd_);
    ::close(fd_);
    fd_ = -1;
    if (cause == EWOULDBLOCK)
      throw InputError(runsDir.string() + " is in use by another dmoe command" +
                       (pid.empty() ? std::string() : " (PID " + pid + ")") +
                       ": wait until it ends, or stop it (a stopped run resumes when started again)");
    throw InputError("cannot lock " + file.string() + ": " + std::strerror(cause));
  }
  // The PID only serves a second command's message: the lock holds whether or not it is written.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, pid.data(), pid.size(), 0);
  removed_ = removeScratch(runsDir);
}

RunsFolderLock::~RunsFolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the lock
}

}  // namespace dmoe
