// Multi-member gzip and multi-frame zstd corpus files (corpus/line_stream.h),
// built from the input and read back against what they hold. Input: byte 0
// picks the format (bit 0), the compression level (bits 1-2) and what is done
// to the file (bits 3-4); bytes 1-2 a position; the rest, cut at each 0xFF,
// is the text of one member or frame each.
//   intact    — the lines read are exactly the text's lines;
//   cut       — the file cut at the position: at a member boundary the lines of
//               the members before it, elsewhere an InputError "… is truncated
//               after line N" after a prefix of the lines;
//   damaged   — a magic byte of a later member (of an appended copy of the
//               first, when there is one member) flipped: an InputError
//               "damaged … after line N", N the lines of the members before it,
//               all of them read first;
//   flipped   — any byte flipped: lines or an InputError, nothing else.
// A broken expectation aborts (libFuzzer keeps the input).
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "corpus/line_stream.h"
#include "util/error.h"

namespace {

enum class Damage { intact, cut, damaged, flipped };

void expect(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_corpus_compressed: %s\n", what);
  std::abort();
}

std::string gzipMember(const std::string& text, int level) {
  z_stream z{};
  expect(deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK, "deflateInit2");
  std::string out(deflateBound(&z, text.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  expect(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string zstdFrame(const std::string& text, int level) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const size_t size = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), level);
  expect(!ZSTD_isError(size), "ZSTD_compress");
  out.resize(size);
  return out;
}

// The lines LineStream gives for `text`: split at "\n", a last line without one counts.
std::vector<std::string> linesOf(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t start = 0; start < text.size();) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return lines;
}

size_t newlines(const std::string& text) {
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

struct Read {
  std::vector<std::string> lines;
  std::string error;  // the InputError's message, "" when the file read to its end
};

Read readBack(const std::string& bytes) {
  static const std::string file = "/tmp/dmoe-fuzz-corpus-compressed-" + std::to_string(getpid());
  std::ofstream(file, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  Read read;
  try {
    dmoe::LineStream in(file);
    std::string line;
    while (in.next(line)) read.lines.push_back(line);
  } catch (const dmoe::InputError& e) {
    read.error = e.what();
  }
  return read;
}

bool startsWith(const std::vector<std::string>& lines, const std::vector<std::string>& prefix, size_t count) {
  if (lines.size() != count || prefix.size() < count) return false;
  for (size_t i = 0; i < count; ++i)
    if (lines[i] != prefix[i]) return false;
  return true;
}

bool says(const std::string& error, const std::string& part) { return error.find(part) != std::string::npos; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const bool zstd = data[0] & 1;
  static const int zstdLevels[] = {-1, 1, 3, 9}, gzipLevels[] = {0, 1, 6, 9};  // gzip 0: stored blocks
  const int level = (zstd ? zstdLevels : gzipLevels)[(data[0] >> 1) & 3];
  const auto damage = static_cast<Damage>((data[0] >> 3) & 3);
  const size_t position = data[1] | (size_t{data[2]} << 8);
  std::vector<std::string> texts(1);
  for (size_t i = 3; i < size; ++i) {
    if (data[i] == 0xFF) texts.emplace_back();
    else texts.back() += static_cast<char>(data[i]);
  }
  std::string bytes, text;
  std::vector<size_t> starts;  // where each member begins
  for (const std::string& t : texts) {
    starts.push_back(bytes.size());
    bytes += zstd ? zstdFrame(t, level) : gzipMember(t, level);
    text += t;
  }
  const std::vector<std::string> lines = linesOf(text);
  const size_t magic = zstd ? 4 : 2;

  if (damage == Damage::intact) {
    const Read read = readBack(bytes);
    expect(read.error.empty() && read.lines == lines, "an intact file does not read back as its text");
  } else if (damage == Damage::cut) {
    const size_t cut = magic + position % (bytes.size() - magic);  // still told by its magic
    const Read read = readBack(bytes.substr(0, cut));
    size_t members = 0;
    while (members < starts.size() && starts[members] < cut) ++members;
    if (members < starts.size() && starts[members] == cut) {
      std::string before;
      for (size_t i = 0; i < members; ++i) before += texts[i];
      expect(read.error.empty() && read.lines == linesOf(before), "a file cut between members does not read as those members");
    } else {
      expect(says(read.error, " data is truncated after line " + std::to_string(read.lines.size())),
             "a file cut inside a member is not a truncation error after its last line");
      expect(startsWith(read.lines, lines, read.lines.size()), "a cut file reads other lines than its text's");
    }
  } else if (damage == Damage::damaged) {
    if (starts.size() == 1) starts.push_back(bytes.size()), bytes += bytes;
    const size_t member = 1 + position % (starts.size() - 1);
    const size_t at = starts[member] + (zstd ? 1 + (position >> 8) % 3 : (position >> 8) % 2);  // zstd byte 0: legacy magics
    bytes[at] = static_cast<char>(bytes[at] ^ (1 + (position >> 10) % 255));
    std::string before;
    for (size_t i = 0; i < member; ++i) before += texts[i];
    const Read read = readBack(bytes);
    expect(says(read.error, std::string("damaged ") + (zstd ? "zstd" : "gzip") + " data (") &&
               says(read.error, ") after line " + std::to_string(newlines(before))),
           "a damaged later member is not named after the lines before it");
    expect(startsWith(read.lines, lines, newlines(before)), "the lines before a damaged member are not all read");
  } else {
    bytes[position % bytes.size()] ^= static_cast<char>(1 + (position >> 8) % 255);
    (void)readBack(bytes);
  }
  return 0;
}
