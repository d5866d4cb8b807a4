// The JSON type used across the core: ordered, so files we rewrite keep the
// user's key order, and events print "event" first.
#pragma once
#include <cmath>
#include <nlohmann/json.hpp>

namespace dmoe {
using Json = nlohmann::ordered_json;

// A number, or null where there is none (NaN, ±inf): how the result files write missing values.
inline Json numberOrNull(double v) { return std::isfinite(v) ? Json(v) : Json(); }
}
