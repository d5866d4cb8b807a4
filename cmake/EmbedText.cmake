# embed_text(<out.cpp> <symbol> <file>): writes a .cpp defining
#   extern const char* const <symbol>;  holding the file's text.
# Used to compile resources (the project schema) into the Qt-free core.
function(embed_text out symbol file)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DIN=${file} -DOUT=${out} -DSYMBOL=${symbol}
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedTextScript.cmake
    DEPENDS ${file} ${PROJECT_SOURCE_DIR}/cmake/EmbedTextScript.cmake
    COMMENT "Embedding ${file}")
endfunction()
