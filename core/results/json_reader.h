// Checked reading of one JSON document for the result-file readers
// (results/*_file.h): every accessor that finds something else than it
// expects throws InputError "<source>: <JSON path>: expected …", so a damaged
// or foreign file is named with the place of the problem.
//
// Not here: the project file's settings (project/project.h validates those
// against the schema) or writing anything.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "util/json.h"

namespace dmoe {

class JsonReader {
 public:
  // A parsed document; `source` names it in errors (usually the file path).
  JsonReader(Json root, std::string source);
  // Reads and parses `file`, which must hold a JSON object. Missing:
  // "<file> is missing: run `<maker>` first" (maker: the command that writes it).
  static JsonReader file(const std::filesystem::path& file, const std::string& maker);

  const Json& root() const { return root_; }
  const std::string& source() const { return source_; }

  [[noreturn]] void fail(const std::string& path, const std::string& expected) const;
  // object[key]; missing (or `object` not an object): "<path>/<key>: expected a value (it is missing)".
  const Json& at(const Json& object, const std::string& key, const std::string& path) const;
  double number(const Json& j, const std::string& path) const;
  // A number, or NaN for null (the stages write null where there is no value).
  double numberOrNull(const Json& j, const std::string& path) const;
  bool boolean(const Json& j, const std::string& path) const;
  std::int64_t integer(const Json& j, const std::string& path) const;
  std::string string(const Json& j, const std::string& path) const;
  std::vector<std::string> strings(const Json& j, const std::string& path) const;
  // A list of exactly `size` numbers.
  std::vector<double> numbers(const Json& j, const std::string& path, size_t size) const;
  // A list of numbers of any length.
  std::vector<double> numbers(const Json& j, const std::string& path) const;
  std::vector<std::int64_t> integers(const Json& j, const std::string& path) const;
  // `rows` lists of `columns` numbers.
  std::vector<std::vector<double>> matrix(const Json& j, const std::string& path, size_t rows, size_t columns) const;
  // The root's "labels" when present (one per id), else the ids.
  std::vector<std::string> labels(const std::vector<std::string>& ids) const;

 private:
  Json root_;
  std::string source_;
};

}  // namespace dmoe
