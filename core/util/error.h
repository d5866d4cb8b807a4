// Error types shared by the whole core, and the exit code each maps to.
// InputError = the user's input is wrong (a file, a project setting, an argument):
// the CLI exits with 2. Cancelled = the user stopped the command (SIGINT /
// SIGTERM, runtime/cancellation.h): exit 128 + signal. Any other
// std::exception is a failure: exit 1.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace dmoe {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown at a safe point after a cancel request (runtime/cancellation.h).
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("cancelled") {}
};

// One located problem: `where` is a JSON path ("/grouping/manual/2/0"),
// or "file:line", or a file name; `message` says what was expected.
struct Problem {
  std::string where;
  std::string message;
};

// Every problem found in one input at once (a project file, a corpus file).
class ValidationError : public InputError {
 public:
  ValidationError(std::string source, std::vector<Problem> problems);
  const std::string& source() const { return source_; }
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::string source_;
  std::vector<Problem> problems_;
};

}  // namespace dmoe
