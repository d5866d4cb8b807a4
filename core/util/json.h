// The JSON type used across the core: ordered, so files we rewrite keep the
// user's key order, and events print "event" first.
#pragma once
#include <nlohmann/json.hpp>

namespace dmoe {
using Json = nlohmann::ordered_json;
}
