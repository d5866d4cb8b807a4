// A line of the `--events jsonl` stream as the GUI reads it: parseEventLine,
// then the log's readable form of the event. Nothing may throw or crash.
#include <QByteArray>
#include <cstddef>
#include <cstdint>

#include "event_text.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const QByteArray line(reinterpret_cast<const char*>(data), static_cast<int>(size));
  if (const auto event = dmoe::views::parseEventLine(line))
    for (const dmoe::views::EventLine& l : dmoe::views::describeEvent(*event)) (void)l.text.size();
  return 0;
}
