#include "results/json_reader.h"

#include <limits>

#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe {

JsonReader::JsonReader(Json root, std::string source) : root_(std::move(root)), source_(std::move(source)) {}

JsonReader JsonReader::file(const fs::path& file, const std::string& maker) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw InputError(file.string() + " is missing: run `" + maker + "` first");
  JsonReader in(readJsonFile(file), file.string());
  if (!in.root_.is_object()) throw InputError(in.source_ + ": expected a JSON object");
  return in;
}

void JsonReader::fail(const std::string& path, const std::string& expected) const {
  throw InputError(source_ + ": " + path + ": expected " + expected);
}

const Json& JsonReader::at(const Json& object, const std::string& key, const std::string& path) const {
  if (!object.is_object() || !object.contains(key)) fail(path + "/" + key, "a value (it is missing)");
  return object.at(key);
}

double JsonReader::number(const Json& j, const std::string& path) const {
  if (!j.is_number()) fail(path, "a number");
  return j.get<double>();
}

double JsonReader::numberOrNull(const Json& j, const std::string& path) const {
  return j.is_null() ? std::numeric_limits<double>::quiet_NaN() : number(j, path);
}

bool JsonReader::boolean(const Json& j, const std::string& path) const {
  if (!j.is_boolean()) fail(path, "true or false");
  return j.get<bool>();
}

std::int64_t JsonReader::integer(const Json& j, const std::string& path) const {
  if (!j.is_number_integer()) fail(path, "an integer");
  return j.get<std::int64_t>();
}

std::string JsonReader::string(const Json& j, const std::string& path) const {
  if (!j.is_string()) fail(path, "a string");
  return j.get<std::string>();
}

std::vector<std::string> JsonReader::strings(const Json& j, const std::string& path) const {
  if (!j.is_array()) fail(path, "a list of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < j.size(); ++i) out.push_back(string(j[i], path + "/" + std::to_string(i)));
  return out;
}

std::vector<double> JsonReader::numbers(const Json& j, const std::string& path, size_t size) const {
  if (!j.is_array() || j.size() != size) fail(path, "a list of " + std::to_string(size) + " numbers");
  return numbers(j, path);
}

std::vector<double> JsonReader::numbers(const Json& j, const std::string& path) const {
  if (!j.is_array()) fail(path, "a list of numbers");
  std::vector<double> out;
  for (size_t i = 0; i < j.size(); ++i) out.push_back(number(j[i], path + "/" + std::to_string(i)));
  return out;
}

std::vector<std::int64_t> JsonReader::integers(const Json& j, const std::string& path) const {
  if (!j.is_array()) fail(path, "a list of integers");
  std::vector<std::int64_t> out;
  for (size_t i = 0; i < j.size(); ++i) out.push_back(integer(j[i], path + "/" + std::to_string(i)));
  return out;
}

std::vector<std::vector<double>> JsonReader::matrix(const Json& j, const std::string& path, size_t rows,
                                                    size_t columns) const {
  if (!j.is_array() || j.size() != rows) fail(path, std::to_string(rows) + " rows");
  std::vector<std::vector<double>> out;
  for (size_t r = 0; r < rows; ++r) out.push_back(numbers(j[r], path + "/" + std::to_string(r), columns));
  return out;
}

std::vector<std::string> JsonReader::labels(const std::vector<std::string>& ids) const {
  if (!root_.is_object() || !root_.contains("labels")) return ids;
  std::vector<std::string> out = strings(root_["labels"], "/labels");
  if (out.size() != ids.size()) fail("/labels", "one label per language (" + std::to_string(ids.size()) + ")");
  return out;
}

}  // namespace dmoe
