// TokenShard: validation on open, then plain pointer arithmetic.
#include "corpus/token_shard.h"

#include <stdexcept>
#include <string>

#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe {

// The shards are read in place: the host must share the file's byte order.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "token shards are little-endian");

fs::path tokenIndexFile(const fs::path& binFile) {
  fs::path idx = binFile;
  return idx.replace_extension(".idx");
}

TokenShard::TokenShard(const fs::path& binFile) : bin_(binFile), idx_(tokenIndexFile(binFile)) {
  const std::string idxName = idx_.path().string(), binName = bin_.path().string();
  if (bin_.size() % sizeof(std::uint32_t) != 0)
    throw InputError(binName + ": size " + std::to_string(bin_.size()) +
                     " bytes is not a whole number of uint32 token ids (truncated or not a token shard)");
  if (idx_.size() % sizeof(std::uint64_t) != 0 || idx_.size() < sizeof(std::uint64_t))
    throw InputError(idxName + ": size " + std::to_string(idx_.size()) +
                     " bytes is not a list of uint64 offsets (truncated or not a token index)");
  const std::uint64_t* offset = offsets();
  const std::int64_t n = documentCount();
  if (offset[0] != 0) throw InputError(idxName + ": the first offset is " + std::to_string(offset[0]) + ", not 0");
  for (std::int64_t i = 0; i < n; ++i)
    if (offset[i + 1] < offset[i])
      throw InputError(idxName + ": offsets decrease at document " + std::to_string(i));
  if (offset[n] != static_cast<std::uint64_t>(tokenCount()))
    throw InputError(binName + ": holds " + std::to_string(tokenCount()) + " tokens but " + idxName + " indexes " +
                     std::to_string(offset[n]) + " (one of the two is truncated or stale; rebuild with `dmoe corpus tokenize --force`)");
}

TokenSpan TokenShard::document(std::int64_t i) const {
  if (i < 0 || i >= documentCount())
    throw std::out_of_range(file().string() + ": document " + std::to_string(i) + " of " +
                            std::to_string(documentCount()));
  const std::uint64_t begin = offsets()[i], end = offsets()[i + 1];
  return {data() + begin, static_cast<std::size_t>(end - begin)};
}

}  // namespace dmoe
