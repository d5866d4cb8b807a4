// The memory this machine can still give a process without swapping: the
// kernel's MemAvailable (/proc/meminfo), in bytes; −1 where it is not known
// (no /proc). What checks made before a large allocation compare against.
// Not here: GPU memory (runtime/device.h).
#pragma once
#include <cstdint>
#include <fstream>
#include <string>

namespace dmoe {

inline std::int64_t availableRamBytes() {
  std::ifstream meminfo("/proc/meminfo");
  const std::string key = "MemAvailable:";
  for (std::string line; std::getline(meminfo, line);)
    if (line.compare(0, key.size(), key) == 0) return std::stoll(line.substr(key.size())) * 1024;  // "… kB"
  return -1;
}

}  // namespace dmoe
