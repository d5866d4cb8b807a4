#include "checkpoint/safetensors.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "util/atomic_file.h"
#include "util/json.h"
#include "util/text.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; this reader copies it verbatim");

namespace dmoe::safetensors {

namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

const DTypeInfo& info(DType dtype) {
  for (const DTypeInfo& d : kDTypes)
    if (d.dtype == dtype) return d;
  throw std::logic_error("safetensors: unhandled dtype");
}

std::string knownDTypeNames() {
  std::string names;
  for (const DTypeInfo& d : kDTypes) names += (names.empty() ? "" : ", ") + std::string(d.name);
  return names;
}

[[noreturn]] void fail(ErrorKind kind, const std::string& source, const std::string& tensor, const std::string& what,
                       const std::string& hint) {
  std::string message = source + ": ";
  if (!tensor.empty()) message += "tensor '" + tensor + "': ";
  message += what + " (" + hint + ")";
  throw FormatError(kind, source, tensor, message);
}

// Element count × dtype size; nullopt when a dimension is negative or the
// product overflows int64 — also when a zero dimension would hide that
// (e.g. [0, 2^62, 2^62]: empty, but its strides do not fit LibTorch's int64).
std::optional<std::uint64_t> byteCount(const std::vector<std::int64_t>& shape, std::size_t elementSize) {
  std::uint64_t total = elementSize, nonZero = elementSize;
  for (std::int64_t dim : shape) {
    if (dim < 0) return std::nullopt;
    if (dim != 0 && __builtin_mul_overflow(nonZero, static_cast<std::uint64_t>(dim), &nonZero)) return std::nullopt;
    total *= static_cast<std::uint64_t>(dim);  // ≤ nonZero: cannot overflow
  }
  if (nonZero > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  return total;
}

// A non-negative JSON integer that fits in int64 (shapes and offsets).
std::optional<std::uint64_t> nonNegativeInteger(const nlohmann::json& value) {
  if (value.is_number_unsigned()) {
    auto v = value.get<std::uint64_t>();
    if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return v;
  } else if (value.is_number_integer() && value.get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(value.get<std::int64_t>());
  }
  return std::nullopt;
}

// Parses the header JSON, failing on keys repeated within one object: the
// DOM parser would silently keep one of them.
nlohmann::json parseJsonRejectingDuplicates(std::string_view text, const std::string& source) {
  std::vector<std::set<std::string>> openObjects;
  std::string topLevelKey, duplicateTensor, duplicateWhat;
  auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) {
      openObjects.emplace_back();
    } else if (event == E::object_end) {
      openObjects.pop_back();
    } else if (event == E::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      bool topLevel = openObjects.size() == 1;
      if (topLevel) topLevelKey = key;
      if (!openObjects.back().insert(key).second && duplicateWhat.empty()) {
        duplicateTensor = topLevelKey;
        duplicateWhat = topLevel ? "the name appears more than once in the header"
                                 : "key '" + key + "' appears more than once in its entry";
      }
    }
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::HeaderNotJson, source, "", std::string("header is not valid JSON: ") + e.what(),
         "the file is truncated or not a safetensors file");
  }
  if (!duplicateWhat.empty())
    fail(ErrorKind::DuplicateName, source, duplicateTensor, duplicateWhat,
         "a safetensors header maps each name to exactly one entry");
  return header;
}

std::map<std::string, std::string> parseMetadata(const nlohmann::json& value, const std::string& source) {
  std::map<std::string, std::string> metadata;
  const char* hint = "__metadata__ must map strings to strings, e.g. {\"format\": \"pt\"}";
  if (!value.is_object()) fail(ErrorKind::BadMetadata, source, "", "__metadata__ is not an object", hint);
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) fail(ErrorKind::BadMetadata, source, "", "__metadata__ value '" + key + "' is not a string", hint);
    metadata[key] = v.get<std::string>();
  }
  return metadata;
}

TensorEntry parseEntry(const std::string& name, const nlohmann::json& value, std::uint64_t bufferSize,
                       const std::string& source) {
  if (!value.is_object())
    fail(ErrorKind::EntryNotObject, source, name, "entry is not an object",
         "expected {\"dtype\": ..., \"shape\": [...], \"data_offsets\": [begin, end]}");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!value.contains(field))
      fail(ErrorKind::MissingField, source, name, std::string("entry has no \"") + field + "\"",
           "every tensor entry needs dtype, shape and data_offsets");

  TensorEntry entry;
  entry.name = name;
  const nlohmann::json& dtype = value["dtype"];
  std::optional<DType> parsed = dtype.is_string() ? dtypeFromName(dtype.get<std::string>()) : std::nullopt;
  if (!parsed)
    fail(ErrorKind::UnknownDType, source, name, "unknown dtype " + dtype.dump(), "known dtypes: " + knownDTypeNames());
  entry.dtype = *parsed;

  const nlohmann::json& shape = value["shape"];
  const char* shapeHint = "shape must be a list of non-negative integers, [] for a scalar";
  if (!shape.is_array()) fail(ErrorKind::BadShape, source, name, "shape " + shape.dump() + " is not a list", shapeHint);
  for (const nlohmann::json& dim : shape) {
    std::optional<std::uint64_t> d = nonNegativeInteger(dim);
    if (!d) fail(ErrorKind::BadShape, source, name, "shape " + shape.dump() + " has the dimension " + dim.dump(), shapeHint);
    entry.shape.push_back(static_cast<std::int64_t>(*d));
  }

  const nlohmann::json& offsets = value["data_offsets"];
  std::optional<std::uint64_t> begin, end;
  if (offsets.is_array() && offsets.size() == 2) {
    begin = nonNegativeInteger(offsets[0]);
    end = nonNegativeInteger(offsets[1]);
  }
  if (!begin || !end)
    fail(ErrorKind::BadOffsets, source, name, "data_offsets " + offsets.dump() + " is not [begin, end]",
         "two non-negative integers, byte positions within the data buffer");
  entry.begin = *begin;
  entry.end = *end;
  if (entry.end < entry.begin)
    fail(ErrorKind::OffsetsReversed, source, name, "data_offsets " + offsets.dump() + " end before they begin",
         "end must be >= begin");

  std::optional<std::uint64_t> expected = byteCount(entry.shape, dtypeSize(entry.dtype));
  if (!expected)
    fail(ErrorKind::SizeMismatch, source, name, "shape " + shapeText(entry.shape) + " overflows a 64-bit byte count",
         "the shape is corrupt");
  if (*expected != entry.byteSize())
    fail(ErrorKind::SizeMismatch, source, name,
         "shape " + shapeText(entry.shape) + " of " + dtypeName(entry.dtype) + " needs " + std::to_string(*expected) +
             " bytes but data_offsets span " + std::to_string(entry.byteSize()),
         "byte size must equal element count x dtype size");
  if (entry.end > bufferSize)
    fail(ErrorKind::BeyondBuffer, source, name,
         "data ends at byte " + std::to_string(entry.end) + " of a " + std::to_string(bufferSize) + "-byte data buffer",
         "the file is truncated");
  return entry;
}

// Offsets, sorted by position, must tile the buffer exactly: no holes, no overlap, nothing after.
void checkLayout(std::vector<TensorEntry> byPosition, std::uint64_t bufferSize, const std::string& source) {
  std::sort(byPosition.begin(), byPosition.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t cursor = 0;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& e : byPosition) {
    if (e.begin < cursor)
      fail(ErrorKind::Overlap, source, e.name,
           "data [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ") overlaps tensor '" + previous->name +
               "' which ends at " + std::to_string(cursor),
           "each tensor owns its own bytes");
    if (e.begin > cursor)
      fail(ErrorKind::Hole, source, e.name,
           "data begins at " + std::to_string(e.begin) + " but the previous tensor ends at " + std::to_string(cursor),
           "tensors must be contiguous from offset 0 with no gaps");
    cursor = e.end;
    previous = &e;
  }
  if (cursor != bufferSize)
    fail(ErrorKind::TrailingBytes, source, previous ? previous->name : "",
         std::to_string(bufferSize - cursor) + " bytes follow the last tensor's data",
         "the header does not describe the whole file");
}

}  // namespace

std::size_t dtypeSize(DType dtype) { return info(dtype).size; }
const char* dtypeName(DType dtype) { return info(dtype).name; }

std::optional<DType> dtypeFromName(std::string_view name) {
  for (const DTypeInfo& d : kDTypes)
    if (name == d.name) return d.dtype;
  return std::nullopt;
}

FormatError::FormatError(ErrorKind kind, std::string file, std::string tensor, const std::string& message)
    : InputError(message), kind_(kind), file_(std::move(file)), tensor_(std::move(tensor)) {}

std::int64_t TensorEntry::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

Header parseHeader(std::string_view file, const std::string& source) {
  if (file.size() < 8)
    fail(ErrorKind::TooShort, source, "", "file has " + std::to_string(file.size()) + " bytes",
         "a safetensors file starts with an 8-byte header length");
  std::uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(file[i]);
  if (length > kMaxHeaderBytes)
    fail(ErrorKind::HeaderTooLarge, source, "", "header length " + std::to_string(length) + " exceeds the limit",
         "at most " + std::to_string(kMaxHeaderBytes) + " bytes; the file is corrupt or not safetensors");
  if (length > file.size() - 8)
    fail(ErrorKind::HeaderTooLarge, source, "",
         "header length " + std::to_string(length) + " exceeds the " + std::to_string(file.size() - 8) +
             " bytes after it",
         "the file is truncated or not safetensors");
  std::string_view text = file.substr(8, length);
  if (text.empty() || text.front() != '{')
    fail(ErrorKind::HeaderStart, source, "", "header does not start with '{'",
         "the header is a JSON object right after the 8-byte length");
  nlohmann::json json = parseJsonRejectingDuplicates(text, source);

  Header header;
  header.bufferStart = 8 + length;
  std::uint64_t bufferSize = file.size() - header.bufferStart;
  for (const auto& [name, value] : json.items()) {
    if (name == "__metadata__")
      header.metadata = parseMetadata(value, source);
    else
      header.tensors.push_back(parseEntry(name, value, bufferSize, source));
  }
  checkLayout(header.tensors, bufferSize, source);
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
  return header;
}

Reader::Reader(const std::filesystem::path& file) : map_(file), header_(parseHeader(map_.bytes(), file.string())) {}

const TensorEntry* Reader::find(const std::string& name) const {
  auto it = std::lower_bound(header_.tensors.begin(), header_.tensors.end(), name,
                             [](const TensorEntry& e, const std::string& n) { return e.name < n; });
  return it != header_.tensors.end() && it->name == name ? &*it : nullptr;
}

std::string_view Reader::bytes(const TensorEntry& entry) const {
  return map_.bytes().substr(header_.bufferStart + entry.begin, entry.byteSize());
}

namespace {

// Indices of `tensors` in name order; rejects duplicates and byte-size mismatches.
std::vector<std::size_t> checkedNameOrder(const std::vector<TensorData>& tensors) {
  std::vector<std::size_t> order(tensors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return tensors[a].name < tensors[b].name; });
  for (std::size_t i = 0; i < order.size(); ++i) {
    const TensorData& t = tensors[order[i]];
    if (t.name == "__metadata__") throw std::invalid_argument("safetensors: '__metadata__' is not a tensor name");
    if (i > 0 && tensors[order[i - 1]].name == t.name)
      throw std::invalid_argument("safetensors: tensor '" + t.name + "' given twice");
    std::optional<std::uint64_t> expected = byteCount(t.shape, dtypeSize(t.dtype));
    if (!expected || *expected != t.bytes.size())
      throw std::invalid_argument("safetensors: tensor '" + t.name + "' has " + std::to_string(t.bytes.size()) +
                                  " bytes, not what shape " + shapeText(t.shape) + " of " + dtypeName(t.dtype) +
                                  " needs");
  }
  return order;
}

std::string headerFor(const std::vector<TensorData>& tensors, const std::vector<std::size_t>& order,
                      const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (std::size_t i : order) {
    const TensorData& t = tensors[i];
    header[t.name] = {{"dtype", dtypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

void write(const std::filesystem::path& file, const std::vector<TensorData>& tensors,
           const std::map<std::string, std::string>& metadata) {
  std::vector<std::size_t> order = checkedNameOrder(tensors);
  std::string header = headerFor(tensors, order, metadata);
  char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((static_cast<std::uint64_t>(header.size()) >> (8 * i)) & 0xff);
  AtomicFileWriter writer(file);
  std::ofstream& out = writer.stream();
  out.write(length, 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (std::size_t i : order) out.write(tensors[i].bytes.data(), static_cast<std::streamsize>(tensors[i].bytes.size()));
  writer.commit();
}

}  // namespace dmoe::safetensors
