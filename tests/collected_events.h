// The events of one kind a CollectingSink gathered, in order: what the
// corpus and import tests read back from a command's event stream.
// Not a sink itself (core/events/event_sink.h has those).
#pragma once
#include <string>
#include <vector>

#include "events/event_sink.h"

namespace dmoe::test {

inline std::vector<Json> eventsOfKind(const CollectingSink& sink, const std::string& kind) {
  std::vector<Json> out;
  for (const Json& e : sink.events)
    if (e["event"] == kind) out.push_back(e);
  return out;
}

}  // namespace dmoe::test
