# Script mode helper of EmbedText.cmake: IN, OUT, SYMBOL.
file(READ "${IN}" content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE "${OUT}" "// Generated from ${IN}; do not edit.\nstatic const unsigned char data[] = {${bytes} 0};\nextern const char* const ${SYMBOL};\nconst char* const ${SYMBOL} = reinterpret_cast<const char*>(data);\n")
