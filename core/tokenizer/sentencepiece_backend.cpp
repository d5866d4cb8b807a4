#include "tokenizer/sentencepiece_backend.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>

namespace dmoe {

SentencePieceBackend& sentencePiece() {
  static SentencePieceBackend* backend = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    // DMOE_SENTENCEPIECE_MODULE overrides the path compiled in at build time.
    const char* override = std::getenv("DMOE_SENTENCEPIECE_MODULE");
    const std::string path = override ? override : DMOE_SENTENCEPIECE_MODULE_PATH;
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!handle)
      throw std::runtime_error("cannot load the sentencepiece module " + path + ": " + ::dlerror() +
                               " (hint: rebuild, or set DMOE_SENTENCEPIECE_MODULE)");
    using Factory = SentencePieceBackend* (*)();
    auto factory = reinterpret_cast<Factory>(::dlsym(handle, "dmoe_sentencepiece_backend"));
    if (!factory) throw std::runtime_error(path + " does not export dmoe_sentencepiece_backend");
    backend = factory();
  });
  return *backend;
}

}  // namespace dmoe
