// safetensors reader and writer: round trip of every dtype (0-rank and empty
// tensors too), the writer's exact byte layout, one hand-crafted file per
// malformed kind with its named error, a FIFO, folder or device in a file's
// place refused by name, and a seeded fuzz of header mutations.
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "checkpoint/safetensors.h"
#include "checkpoint/tensor_bridge.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QtTest>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <random>

#include "test_support.h"

using namespace dmoe;
using safetensors::ErrorKind;
namespace fs = std::filesystem;

namespace {

// 8-byte little-endian length, header, buffer: a file built by hand.
std::string fileBytes(const std::string& header, const std::string& buffer, std::uint64_t length) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return bytes + header + buffer;
}
std::string fileBytes(const std::string& header, const std::string& buffer) {
  return fileBytes(header, buffer, header.size());
}

struct BadFile {
  const char* label;
  std::string bytes;
  ErrorKind kind;
  std::string tensor;    // expected FormatError::tensor()
  std::string fragment;  // expected in the message
};

std::string f32(const char* shape, const char* offsets) {
  return std::string("{\"dtype\":\"F32\",\"shape\":") + shape + ",\"data_offsets\":" + offsets + "}";
}

NamedTensors mixedTensors() {
  torch::manual_seed(7);
  return {
      {"f32.matrix", torch::randn({2, 3})},
      {"f16.vector", torch::randn({4}).to(torch::kFloat16)},
      {"bf16.matrix", torch::randn({2, 2}).to(torch::kBFloat16)},
      {"f64.scalar", torch::tensor(3.25, torch::kFloat64)},  // 0-rank
      {"i64", torch::tensor(std::vector<std::int64_t>{-1, 0, std::int64_t{1} << 40})},
      {"i32", torch::tensor({-7, 9}, torch::kInt32)},
      {"i16", torch::tensor({-300, 300}, torch::kInt16)},
      {"i8", torch::tensor({-5, 5}, torch::kInt8)},
      {"u8", torch::tensor({0, 255}, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"empty", torch::zeros({0, 3})},
      {"strided", torch::arange(12, torch::kFloat32).reshape({3, 4}).t()},  // not contiguous
  };
}

}  // namespace

class TestSafetensors : public QObject {
  Q_OBJECT
 private slots:
  void roundTripKeepsEveryDtypeBitForBit() {
    QTemporaryDir tmp;
    fs::path file = fs::path(tmp.path().toStdString()) / "mixed.safetensors";
    NamedTensors tensors = mixedTensors();
    writeTensors(file, tensors);
    safetensors::Reader reader(file);
    QCOMPARE(reader.tensors().size(), tensors.size());
    QCOMPARE(reader.metadata().at("format"), std::string("pt"));
    for (const auto& [name, original] : tensors) {
      const safetensors::TensorEntry* entry = reader.find(name);
      QVERIFY2(entry, name.c_str());
      torch::Tensor back = readTensor(reader, *entry);
      QVERIFY(back.scalar_type() == original.scalar_type());
      QCOMPARE(back.sizes().vec(), original.sizes().vec());
      QVERIFY2(torch::equal(back, original), name.c_str());
      torch::Tensor contiguous = original.contiguous();
      std::string_view stored = reader.bytes(*entry);
      QCOMPARE(stored.size(), contiguous.nbytes());
      QVERIFY(stored.empty() || std::memcmp(stored.data(), contiguous.data_ptr(), stored.size()) == 0);
    }
    QCOMPARE(reader.find("f64.scalar")->shape.size(), std::size_t{0});
    QCOMPARE(reader.find("empty")->byteSize(), std::uint64_t{0});
    // fp16 → fp32 on read: the same values widened.
    torch::Tensor widened = readTensor(reader, *reader.find("f16.vector"), torch::kFloat32);
    QVERIFY(widened.scalar_type() == torch::kFloat32);
    QVERIFY(torch::equal(widened, tensors[1].second.to(torch::kFloat32)));
  }

  void writerLayoutIsTheFormat() {
    QTemporaryDir tmp;
    fs::path file = fs::path(tmp.path().toStdString()) / "two.safetensors";
    // Given out of order: the file lists them by name, contiguous.
    writeTensors(file, {{"b", torch::tensor({1.0f, 2.0f})}, {"a", torch::tensor({1, 2, 3}, torch::kInt8)}});
    std::string bytes = test::readText(file);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    QCOMPARE(n % 8, std::uint64_t{0});
    QCOMPARE(bytes.size(), 8 + n + 3 + 8);
    std::string header = bytes.substr(8, n);
    std::string json = R"({"__metadata__":{"format":"pt"},"a":{"dtype":"I8","shape":[3],"data_offsets":[0,3]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[3,11]}})";
    QCOMPARE(header.substr(0, json.size()), json);
    QCOMPARE(header.substr(json.size()), std::string(n - json.size(), ' '));  // padding: spaces only
    QVERIFY(n - json.size() < 8);
    // Buffer: int8 1 2 3, then 1.0f = 00 00 80 3f and 2.0f = 00 00 00 40, little-endian.
    QCOMPARE(bytes.substr(8 + n), std::string("\x01\x02\x03\x00\x00\x80\x3f\x00\x00\x00\x40", 11));
  }

  void emptyFileAndPaddedHeaderAreValid() {
    safetensors::Header empty = safetensors::parseHeader(fileBytes("{}", ""), "empty");
    QVERIFY(empty.tensors.empty());
    std::string header = R"({"s":{"dtype":"BF16","shape":[],"data_offsets":[0,2]},"e":{"dtype":"I64","shape":[0],"data_offsets":[2,2]}})";
    safetensors::Header padded = safetensors::parseHeader(fileBytes(header + "     ", "xy"), "padded");
    QCOMPARE(padded.tensors.size(), std::size_t{2});
    QCOMPARE(padded.tensors[0].name, std::string("e"));  // sorted by name
    QCOMPARE(padded.tensors[1].numel(), std::int64_t{1});
    QCOMPARE(padded.bufferStart, 8 + header.size() + 5);
  }

  void malformedFilesGiveNamedErrors() {
    std::vector<BadFile> cases = {
        {"shorter than the length", "abc", ErrorKind::TooShort, "", "3 bytes"},
        {"length over the limit", fileBytes("{}", "", 200'000'000), ErrorKind::HeaderTooLarge, "", "exceeds the limit"},
        {"length past the end", fileBytes("{}", "", 100), ErrorKind::HeaderTooLarge, "", "exceeds the 2 bytes"},
        {"array header", fileBytes("[1]", ""), ErrorKind::HeaderStart, "", "does not start with '{'"},
        {"leading space", fileBytes(" {}", ""), ErrorKind::HeaderStart, "", "does not start with '{'"},
        {"empty header", fileBytes("", ""), ErrorKind::HeaderStart, "", "does not start with '{'"},
        {"truncated JSON", fileBytes("{\"w\": ", ""), ErrorKind::HeaderNotJson, "", "not valid JSON"},
        {"garbage after JSON", fileBytes("{}x", ""), ErrorKind::HeaderNotJson, "", "not valid JSON"},
        {"duplicate name", fileBytes("{\"w\":" + f32("[1]", "[0,4]") + ",\"w\":" + f32("[1]", "[4,8]") + "}", "12345678"),
         ErrorKind::DuplicateName, "w", "more than once in the header"},
        {"duplicate field", fileBytes(R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", "1234"),
         ErrorKind::DuplicateName, "w", "key 'dtype' appears more than once"},
        {"metadata value", fileBytes(R"({"__metadata__":{"format":1}})", ""), ErrorKind::BadMetadata, "",
         "value 'format' is not a string"},
        {"metadata not object", fileBytes(R"({"__metadata__":"pt"})", ""), ErrorKind::BadMetadata, "", "not an object"},
        {"entry not object", fileBytes(R"({"w":[1,2]})", ""), ErrorKind::EntryNotObject, "w", "entry is not an object"},
        {"no offsets", fileBytes(R"({"w":{"dtype":"F32","shape":[1]}})", ""), ErrorKind::MissingField, "w",
         "no \"data_offsets\""},
        {"unknown dtype", fileBytes(R"({"w":{"dtype":"F8_E9","shape":[1],"data_offsets":[0,1]}})", "x"),
         ErrorKind::UnknownDType, "w", "unknown dtype \"F8_E9\""},
        {"dtype not string", fileBytes(R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", "1234"),
         ErrorKind::UnknownDType, "w", "unknown dtype 4"},
        {"negative dim", fileBytes("{\"w\":" + f32("[-1]", "[0,4]") + "}", "1234"), ErrorKind::BadShape, "w",
         "has the dimension -1"},
        {"fractional dim", fileBytes("{\"w\":" + f32("[1.5]", "[0,4]") + "}", "1234"), ErrorKind::BadShape, "w",
         "has the dimension 1.5"},
        {"shape not list", fileBytes("{\"w\":" + f32("\"3\"", "[0,12]") + "}", "123456789012"), ErrorKind::BadShape,
         "w", "is not a list"},
        {"one offset", fileBytes("{\"w\":" + f32("[1]", "[0]") + "}", "1234"), ErrorKind::BadOffsets, "w",
         "data_offsets [0] is not [begin, end]"},
        {"string offset", fileBytes("{\"w\":" + f32("[1]", "[\"0\",4]") + "}", "1234"), ErrorKind::BadOffsets, "w",
         "is not [begin, end]"},
        {"negative offset", fileBytes("{\"w\":" + f32("[1]", "[-4,0]") + "}", "1234"), ErrorKind::BadOffsets, "w",
         "is not [begin, end]"},
        {"end before begin", fileBytes("{\"w\":" + f32("[1]", "[4,0]") + "}", "1234"), ErrorKind::OffsetsReversed, "w",
         "end before they begin"},
        {"size mismatch", fileBytes("{\"w\":" + f32("[2]", "[0,4]") + "}", "1234"), ErrorKind::SizeMismatch, "w",
         "needs 8 bytes but data_offsets span 4"},
        {"size overflow", fileBytes("{\"w\":" + f32("[4294967296,4294967296]", "[0,4]") + "}", "1234"),
         ErrorKind::SizeMismatch, "w", "overflows"},
        {"beyond buffer", fileBytes("{\"w\":" + f32("[2]", "[0,8]") + "}", "1234"), ErrorKind::BeyondBuffer, "w",
         "ends at byte 8 of a 4-byte data buffer"},
        {"overlap", fileBytes("{\"a\":" + f32("[2]", "[0,8]") + ",\"b\":" + f32("[2]", "[4,12]") + "}", "123456789012"),
         ErrorKind::Overlap, "b", "overlaps tensor 'a'"},
        {"hole between", fileBytes("{\"a\":" + f32("[1]", "[0,4]") + ",\"b\":" + f32("[1]", "[8,12]") + "}", "123456789012"),
         ErrorKind::Hole, "b", "previous tensor ends at 4"},
        {"hole at start", fileBytes("{\"a\":" + f32("[1]", "[4,8]") + "}", "12345678"), ErrorKind::Hole, "a",
         "begins at 4"},
        {"trailing bytes", fileBytes("{\"a\":" + f32("[1]", "[0,4]") + "}", "12345678"), ErrorKind::TrailingBytes, "a",
         "4 bytes follow"},
    };
    for (const BadFile& c : cases) {
      try {
        safetensors::parseHeader(c.bytes, "bad.safetensors");
        QFAIL((std::string(c.label) + ": accepted").c_str());
      } catch (const safetensors::FormatError& e) {
        std::string message = e.what();
        QVERIFY2(e.kind() == c.kind, (std::string(c.label) + ": wrong kind: " + message).c_str());
        QCOMPARE(e.tensor(), c.tensor);
        QCOMPARE(e.file(), std::string("bad.safetensors"));
        QVERIFY2(message.rfind("bad.safetensors: ", 0) == 0, message.c_str());
        if (!c.tensor.empty()) QVERIFY2(message.find("tensor '" + c.tensor + "'") != std::string::npos, message.c_str());
        QVERIFY2(message.find(c.fragment) != std::string::npos, (std::string(c.label) + ": " + message).c_str());
        QVERIFY2(message.back() == ')', message.c_str());  // ends with the hint
      }
    }
  }

  void readerNamesAMissingFile() {
    try {
      safetensors::Reader reader("/nonexistent/x.safetensors");
      QFAIL("opened a missing file");
    } catch (const InputError& e) {
      QVERIFY(std::string(e.what()).find("/nonexistent/x.safetensors") != std::string::npos);
    }
  }

  // A FIFO, a folder or a device in a file's place: refused by name before it
  // is read (a FIFO used to block the open forever, or read as 0 bytes).
  // A writer holds the FIFO open, so the old blocking open would return here
  // and the test fail on its message instead of hanging.
  void readerRefusesNonRegularFiles() {
    QTemporaryDir tmp;
    const fs::path fifo = fs::path(tmp.path().toStdString()) / "model.safetensors";
    QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
    const int writer = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK);
    QVERIFY(writer >= 0);
    const std::string message = test::inputErrorOf([&] { safetensors::Reader reader(fifo); });
    ::close(writer);
    QCOMPARE(message, fifo.string() + ": not a regular file (a FIFO)");
    const fs::path folder = fs::path(tmp.path().toStdString()) / "folder.safetensors";
    fs::create_directory(folder);
    QCOMPARE(test::inputErrorOf([&] { safetensors::Reader reader(folder); }), folder.string() + ": not a regular file (a folder)");
    QCOMPARE(test::inputErrorOf([&] { safetensors::Reader reader("/dev/null"); }), std::string("/dev/null: not a regular file (a device)"));
    QCOMPARE(test::inputErrorOf([&] { MappedFile map(fifo); }), fifo.string() + ": not a regular file (a FIFO)");
  }

  void writerRejectsInconsistentInput() {
    QTemporaryDir tmp;
    fs::path file = fs::path(tmp.path().toStdString()) / "w.safetensors";
    char bytes[4] = {};
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                             safetensors::write(file, {{"w", safetensors::DType::F32, {2}, {bytes, 4}}}));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                             safetensors::write(file, {{"w", safetensors::DType::F32, {1}, {bytes, 4}},
                                                       {"w", safetensors::DType::I8, {4}, {bytes, 4}}}));
    QVERIFY(!fs::exists(file));
  }

  // Thousands of seeded mutations of a valid file: the reader accepts the
  // file or throws InputError; never anything else, never a crash. Accepted
  // files must still satisfy the layout rules.
  void fuzzedHeadersNeverCrash() {
    QTemporaryDir tmp;
    fs::path file = fs::path(tmp.path().toStdString()) / "seed.safetensors";
    writeTensors(file, {{"a", torch::ones({2, 3})}, {"b", torch::zeros({0})},
                        {"c", torch::tensor(5, torch::kInt64)}, {"d", torch::ones({3}, torch::kFloat16)}});
    const std::string original = test::readText(file);
    std::uint64_t headerEnd = 8;
    for (int i = 7; i >= 0; --i) headerEnd += static_cast<std::uint64_t>(static_cast<unsigned char>(original[i])) << (8 * i);

    std::mt19937_64 rng(20261122);
    auto pick = [&](std::size_t n) { return n ? static_cast<std::size_t>(rng() % n) : 0; };
    const std::string jsonish = "{}[]\",:0123456789-.eE \\ntfaF3U";
    int accepted = 0, rejected = 0;
    for (int round = 0; round < 5000; ++round) {
      std::string bytes = original;
      int mutations = 1 + static_cast<int>(pick(3));
      for (int m = 0; m < mutations; ++m) {
        std::size_t region = std::min<std::size_t>(bytes.size(), headerEnd);
        switch (pick(7)) {
          case 0: if (region) bytes[pick(region)] ^= static_cast<char>(1 << pick(8)); break;
          case 1: if (region > 8) bytes[8 + pick(region - 8)] = jsonish[pick(jsonish.size())]; break;
          case 2: bytes.resize(pick(bytes.size() + 1)); break;
          case 3: bytes.append(pick(16), static_cast<char>(rng())); break;
          case 4: {  // change a digit: shapes and offsets
            std::size_t at = 8 + pick(region > 8 ? region - 8 : 1);
            if (at < bytes.size() && std::isdigit(static_cast<unsigned char>(bytes[at])))
              bytes[at] = static_cast<char>('0' + pick(10));
            break;
          }
          case 5: if (bytes.size() >= 8) bytes[pick(8)] = static_cast<char>(rng()); break;  // the length
          case 6: if (region > 9) std::swap(bytes[8 + pick(region - 8)], bytes[8 + pick(region - 8)]); break;
        }
      }
      try {
        safetensors::Header h = safetensors::parseHeader(bytes, "fuzz.safetensors");
        std::uint64_t buffer = bytes.size() - h.bufferStart, covered = 0;
        for (const auto& e : h.tensors) {
          QVERIFY(e.end <= buffer);
          QCOMPARE(e.byteSize(), static_cast<std::uint64_t>(e.numel()) * safetensors::dtypeSize(e.dtype));
          covered += e.byteSize();
        }
        QCOMPARE(covered, buffer);
        ++accepted;
      } catch (const InputError&) {
        ++rejected;
      } catch (const std::exception& e) {
        QFAIL((std::string("round ") + std::to_string(round) + ": not an InputError: " + e.what()).c_str());
      }
    }
    qInfo() << "fuzz: accepted" << accepted << "rejected" << rejected;
    QVERIFY(accepted > 0);
    QVERIFY(rejected > 4000);
  }
};

QTEST_GUILESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
