// The small markup scanner the corpus importers share (udhr_import.h,
// libreoffice_help_import.h): a walk over tags and text runs, attribute
// values, entity decoding and whitespace collapsing. Not a general HTML
// parser: no tree, no implied end tags, no character-set detection (UTF-8 is
// assumed); each importer knows its package's regular markup and builds its
// paragraphs from these events.
#pragma once
#include <functional>
#include <string>
#include <string_view>

namespace dmoe {

struct MarkupTag {
  std::string name;  // lower-case
  bool closing = false;
  std::string_view attributes;  // the raw text after the name, e.g. ` id="x" class='y'`
};

// Walks the markup, calling onText with each run of text between tags and
// onTag with each tag; skips comments, <!doctype>, <?…?> and the content of
// <script>/<style>. An unclosed tag at the end ends the walk.
void scanMarkup(std::string_view html, const std::function<void(std::string_view)>& onText,
                const std::function<void(const MarkupTag&)>& onTag);

// Value of attribute `name` (lower-case) in a tag's attribute text (name="v",
// name='v' or name=v), entities decoded; "" when absent.
std::string markupAttribute(std::string_view attributes, std::string_view name);

// Numeric (&#38; &#x26;) and the common named entities (amp lt gt quot apos
// nbsp); anything else stays as written.
std::string decodeEntities(std::string_view text);

// ASCII whitespace runs as one space, none at either end.
std::string collapseWhitespace(std::string_view text);

// h1 … h6.
bool isHeadingTag(const std::string& name);

}  // namespace dmoe
