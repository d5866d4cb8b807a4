// A small JSON-Schema subset, enough for the project file, driven by the
// schema in resources/project.schema.json (compiled into the core).
//
// Supported keywords: type, const, enum, minimum, maximum, exclusiveMinimum,
// pattern, maxLength, minItems, properties, required, items, default, description,
// $ref "#/$defs/<name>", and our x-defaults (override a referenced
// definition's property defaults at the place of use). `properties` next to
// a $ref add to the definition's properties at that place only.
// Unknown object keys are warnings, not errors: they are kept on save.
// Every number must be finite and within float's range (the trainer and the
// models compute in float; NaN would pass any range check): one rule, for a
// loaded file and a built document (`project new`) alike.
//
// The same description drives CLI help (`dmoe project describe`) and GUI forms.
#pragma once
#include <string>
#include <vector>

#include "util/error.h"
#include "util/json.h"

namespace dmoe {

class Schema {
 public:
  explicit Schema(Json root);
  static const Schema& project();  // resources/project.schema.json

  // Appends one Problem per violation; `where` is the JSON pointer.
  void validate(const Json& doc, std::vector<Problem>& errors, std::vector<Problem>& warnings) const;
  // `doc` with every absent key that has a default filled in (recursively).
  Json withDefaults(const Json& doc) const;
  // The schema node for a JSON pointer into a document ("/train/stage1/steps"),
  // with $ref and x-defaults resolved; null if the schema does not describe it.
  Json nodeAt(const std::string& pointer) const;
  // Every leaf setting: {"pointer","type","default","description","enum"?,"minimum"?...}
  Json leaves() const;

 private:
  Json resolve(const Json& node) const;
  void validateNode(const Json& node, const Json& value, const std::string& path, std::vector<Problem>& errors,
                    std::vector<Problem>& warnings) const;
  Json fill(const Json& node, const Json& value) const;
  void collectLeaves(const Json& node, const std::string& path, Json& out) const;
  Json root_;
};

}  // namespace dmoe
