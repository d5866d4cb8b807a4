// A project file's text: the JSON parser with its line:column errors, the
// duplicate-key finder, then load + validate (ValidationError lists problems).
// Anything but an InputError escaping is a defect.
#include <cstddef>
#include <cstdint>
#include <string>

#include "project/project.h"
#include "util/atomic_file.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)dmoe::duplicateKeyPointers(text);
  try {
    const dmoe::Project p = dmoe::Project::fromJson(dmoe::parseJsonText(text, "fuzz.dmoe.json"), "/nonexistent/fuzz.dmoe.json");
    (void)p.toJson().dump();
  } catch (const dmoe::InputError&) {
  }
  return 0;
}
