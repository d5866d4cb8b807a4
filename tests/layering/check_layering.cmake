# The layering rule, checked on the include graph (ctest test_layering):
# the GUI's sources (views/, app/gui/) and every header of dmoe_common they
# reach must not include LibTorch — neither <torch/…>, <ATen/…>, <c10/…>
# directly nor torch_compat.h / pch_torch.h or a core header that does,
# however deep. The build enforces the same by linking views against
# dmoe_common only; this names the include chain when the rule breaks.
#
#   cmake -DCORE_DIR=<core> -DSCAN_DIRS="<dir>;<dir>" -P check_layering.cmake
# Exit status 1 and one line per offending chain when the rule is broken.
if(NOT CORE_DIR OR NOT SCAN_DIRS)
  message(FATAL_ERROR "usage: cmake -DCORE_DIR=<core> -DSCAN_DIRS=<dir;dir> -P check_layering.cmake")
endif()

set(violations "")
set(visited "")

# Appends to `violations` every torch include reachable from `file`; `chain`
# is how the scan got there ("a.cpp → b.h").
function(scan file chain)
  list(FIND visited "${file}" seen)
  if(NOT seen EQUAL -1)
    return()
  endif()
  list(APPEND visited "${file}")
  set(visited "${visited}" PARENT_SCOPE)
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include")
  get_filename_component(dir "${file}" DIRECTORY)
  foreach(line IN LISTS lines)
    if(line MATCHES "#[ \t]*include[ \t]*<((torch|ATen|c10|caffe2)/[^>]*)>")
      list(APPEND violations "${chain} → <${CMAKE_MATCH_1}>")
    elseif(line MATCHES "#[ \t]*include[ \t]*\"([^\"]+)\"")
      set(name "${CMAKE_MATCH_1}")
      get_filename_component(base "${name}" NAME)
      if(base STREQUAL "torch_compat.h" OR base STREQUAL "pch_torch.h")
        list(APPEND violations "${chain} → ${name}")
      elseif(EXISTS "${dir}/${name}")
        scan("${dir}/${name}" "${chain} → ${name}")
      elseif(EXISTS "${CORE_DIR}/${name}")
        scan("${CORE_DIR}/${name}" "${chain} → ${name}")
      endif()
    endif()
  endforeach()
  set(visited "${visited}" PARENT_SCOPE)
  set(violations "${violations}" PARENT_SCOPE)
endfunction()

set(count 0)
foreach(scanDir IN LISTS SCAN_DIRS)
  file(GLOB_RECURSE sources "${scanDir}/*.h" "${scanDir}/*.cpp")
  foreach(source IN LISTS sources)
    get_filename_component(name "${source}" NAME)
    set(visited "")  # every file gets its own chain
    scan("${source}" "${name}")
    math(EXPR count "${count} + 1")
  endforeach()
endforeach()

if(violations)
  list(REMOVE_DUPLICATES violations)
  foreach(v IN LISTS violations)
    message("GUI code reaches LibTorch: ${v}")
  endforeach()
  message(FATAL_ERROR "layering broken: views/ and app/gui/ may include only torch-free core headers (dmoe_common)")
endif()
message(STATUS "layering: ${count} GUI source files, no path to LibTorch")
