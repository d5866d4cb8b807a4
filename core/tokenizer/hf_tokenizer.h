// Hugging Face `tokenizer.json` tokenizers (BLOOM, Qwen2/3, Llama-3, Gemma,
// Llama-2 as converted by transformers). Tested to give the ids of the
// transformers.js port (@lenml/tokenizers) on Llama-3, Qwen3, Gemma-3 and
// Llama-2 files; see tests/test_hf_tokenizer.cpp.
//
// encode() takes bytes: invalid UTF-8 is first decoded as the WHATWG decoder
// does (each maximal invalid subpart becomes U+FFFD). decode() keeps special
// tokens and does no clean-up of spaces, so decode(encode(x)) == x except
// where the file's normalizer changes the text (NFC; Llama-2/Gemma turn "▁"
// into a space; Llama-2 prepends "▁" to text after a special token) or the
// input was not valid UTF-8. A Split/Replace pattern that PCRE2 gives up on
// for a text (its match limit, e.g. "(x|x)+y" on 40 x's) makes encode() throw
// an InputError naming the file and the pattern (see hf_regex.h).
#pragma once
#include <filesystem>
#include <memory>

#include "tokenizer/tokenizer.h"

namespace dmoe {

// Reads `tokenizerJson`, and the tokenizer_config.json beside it when present
// (bos/eos/pad/unk token names, as transformers reads them). Throws
// InputError naming the file, the JSON path and the component type for
// anything unreadable or unsupported.
std::unique_ptr<Tokenizer> loadHfTokenizer(const std::filesystem::path& tokenizerJson);

}  // namespace dmoe
