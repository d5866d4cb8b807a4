#include "project/schema.h"

#include <cctype>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <regex>

#include "methods/grouping_methods.h"

extern const char* const kProjectSchemaText;  // generated from resources/project.schema.json

namespace dmoe {

namespace {

std::string typeName(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

bool hasType(const Json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "integer") {
    // Settings are read as int64: larger values are not integers we can hold.
    if (v.is_number_unsigned()) return v.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX);
    if (v.is_number_integer()) return true;
    if (!v.is_number_float()) return false;
    const double x = v.get<double>();
    return std::abs(x) < 9.2e18 && x == std::floor(x);
  }
  if (type == "number") return v.is_number();
  if (type == "null") return v.is_null();
  return false;
}

std::string article(const std::string& type) {
  return (type == "integer" || type == "array" || type == "object") ? "an " + type : "a " + type;
}

std::string shortValue(const Json& v) {
  if (v.is_number_float() && !std::isfinite(v.get<double>()))  // dump() would say null
    return nonFiniteText(v.get<double>());
  std::string text = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  return text.size() > 40 ? text.substr(0, 37) + "..." : text;
}

}  // namespace

Schema::Schema(Json root) : root_(std::move(root)) {}

namespace {

// Settings whose choices live in a registry ("x-choices"): their enum and help
// are written from it, so the registry row is the one place a choice is declared.
void fillChoices(Json& node) {
  if (!node.is_object()) return;
  if (node.value("x-choices", "") == "grouping-methods") {
    Json names = Json::array();
    std::string help = "How languages are grouped:";
    for (const GroupingMethod& m : groupingMethods()) {
      names.push_back(m.name);
      help += " " + m.name + " — " + m.help + ";";
    }
    help.back() = '.';
    node["enum"] = names;
    node["description"] = help;
    node.erase("x-choices");
  }
  for (auto& [key, child] : node.items()) fillChoices(child);
}

Json projectSchemaJson() {
  Json root = Json::parse(kProjectSchemaText);
  fillChoices(root);
  return root;
}

}  // namespace

const Schema& Schema::project() {
  static const Schema schema(projectSchemaJson());
  return schema;
}

Json Schema::resolve(const Json& node) const {
  if (!node.is_object() || !node.contains("$ref")) return node;
  const std::string ref = node["$ref"].get<std::string>();
  const std::string prefix = "#/$defs/";
  Json target = root_.at("$defs").at(ref.substr(prefix.size()));
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (it.key() == "properties")  // added to the definition's, for this place only
      for (auto& [key, value] : it.value().items()) target["properties"][key] = value;
    else if (it.key() != "$ref" && it.key() != "x-defaults")
      target[it.key()] = it.value();
  }
  if (node.contains("x-defaults"))
    for (auto& [key, value] : node["x-defaults"].items()) target["properties"][key]["default"] = value;
  return target;
}

void Schema::validate(const Json& doc, std::vector<Problem>& errors, std::vector<Problem>& warnings) const {
  validateNode(root_, doc, "", errors, warnings);
}

void Schema::validateNode(const Json& rawNode, const Json& value, const std::string& path,
                          std::vector<Problem>& errors, std::vector<Problem>& warnings) const {
  const Json node = resolve(rawNode);
  const std::string where = path.empty() ? "/" : path;
  if (node.contains("const") && value != node["const"]) {
    errors.push_back({where, "expected " + node["const"].dump() + ", got " + shortValue(value)});
    return;
  }
  if (node.contains("enum")) {
    bool found = false;
    for (const Json& option : node["enum"]) found = found || option == value;
    if (!found) {
      std::string options;
      for (const Json& option : node["enum"]) options += (options.empty() ? "" : ", ") + option.dump();
      errors.push_back({where, "expected one of " + options + ", got " + shortValue(value)});
    }
    return;
  }
  if (node.contains("type")) {
    const std::string type = node["type"].get<std::string>();
    if (!hasType(value, type)) {
      errors.push_back({where, "expected " + article(type) + ", got " + typeName(value) + " " + shortValue(value)});
      return;
    }
  }
  if (value.is_number_float() && !(std::abs(value.get<double>()) <= FLT_MAX)) {
    errors.push_back({where, "expected a finite number within float's range (±3.4e38), got " + shortValue(value)});
    return;
  }
  if (value.is_number()) {
    double x = value.get<double>();
    if (node.contains("minimum") && x < node["minimum"].get<double>())
      errors.push_back({where, "must be ≥ " + node["minimum"].dump() + ", got " + shortValue(value)});
    if (node.contains("maximum") && x > node["maximum"].get<double>())
      errors.push_back({where, "must be ≤ " + node["maximum"].dump() + ", got " + shortValue(value)});
    if (node.contains("exclusiveMinimum") && x <= node["exclusiveMinimum"].get<double>())
      errors.push_back({where, "must be > " + node["exclusiveMinimum"].dump() + ", got " + shortValue(value)});
  }
  if (value.is_string() && node.contains("maxLength") &&
      value.get<std::string>().size() > node["maxLength"].get<size_t>()) {
    errors.push_back({where, "longer than " + node["maxLength"].dump() + " characters"});
    return;
  }
  if (value.is_string() && node.contains("pattern")) {
    const std::string pattern = node["pattern"].get<std::string>();
    if (!std::regex_search(value.get<std::string>(), std::regex(pattern)))
      errors.push_back({where, "must match " + pattern + ", got " + shortValue(value)});
  }
  if (value.is_array()) {
    if (node.contains("minItems") && value.size() < node["minItems"].get<size_t>())
      errors.push_back({where, "needs at least " + node["minItems"].dump() + " item(s)"});
    if (node.contains("items"))
      for (size_t i = 0; i < value.size(); ++i)
        validateNode(node["items"], value[i], path + "/" + std::to_string(i), errors, warnings);
  }
  if (value.is_object()) {
    const Json properties = node.value("properties", Json::object());
    for (const Json& key : node.value("required", Json::array()))
      if (!value.contains(key.get<std::string>()))
        errors.push_back({path + "/" + key.get<std::string>(), "required, missing"});
    for (auto it = value.begin(); it != value.end(); ++it) {
      const std::string child = path + "/" + jsonPointerToken(it.key());
      if (properties.contains(it.key()))
        validateNode(properties[it.key()], it.value(), child, errors, warnings);
      else if (node.contains("properties"))
        warnings.push_back({child, "unknown key, kept as is (a typo?)"});
    }
  }
}

Json Schema::withDefaults(const Json& doc) const { return fill(root_, doc); }

Json Schema::fill(const Json& rawNode, const Json& value) const {
  const Json node = resolve(rawNode);
  Json out = value;
  if (out.is_object() && node.contains("properties")) {
    for (auto& [key, child] : node["properties"].items()) {
      if (out.contains(key))
        out[key] = fill(child, out[key]);
      else {
        const Json childNode = resolve(child);
        if (childNode.contains("default")) out[key] = fill(child, childNode["default"]);
      }
    }
  } else if (out.is_array() && node.contains("items")) {
    for (Json& item : out) item = fill(node["items"], item);
  }
  return out;
}

Json Schema::nodeAt(const std::string& pointer) const {
  Json node = resolve(root_);
  size_t start = 1;
  while (start <= pointer.size() && pointer.size() > 1) {
    size_t end = pointer.find('/', start);
    std::string key = pointer.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (node.contains("properties") && node["properties"].contains(key))
      node = resolve(node["properties"][key]);
    else if (node.contains("items") && !key.empty() && std::isdigit(static_cast<unsigned char>(key[0])))
      node = resolve(node["items"]);
    else
      return nullptr;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return node;
}

Json Schema::leaves() const {
  Json out = Json::array();
  collectLeaves(root_, "", out);
  return out;
}

void Schema::collectLeaves(const Json& rawNode, const std::string& path, Json& out) const {
  const Json node = resolve(rawNode);
  if (node.contains("properties") && node.value("type", "") == "object") {
    for (auto& [key, child] : node["properties"].items()) collectLeaves(child, path + "/" + key, out);
    return;
  }
  Json leaf;
  leaf["pointer"] = path;
  for (const char* key : {"type", "enum", "const", "default", "minimum", "maximum", "exclusiveMinimum", "description"})
    if (node.contains(key)) leaf[key] = node[key];
  out.push_back(leaf);
}

}  // namespace dmoe
