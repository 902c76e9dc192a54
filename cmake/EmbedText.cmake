# Writes the text file INPUT into OUTPUT as a C++ function returning it:
#   absl::string_view NAMESPACE::FUNCTION()
# Run with `cmake -DINPUT=... -DOUTPUT=... -DNAMESPACE=... -DFUNCTION=... -P EmbedText.cmake`
# (server/CMakeLists.txt embeds the status page this way).
file(READ "${INPUT}" content)
set(delimiter "roster_embed")
string(FIND "${content}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter ')${delimiter}\"'")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/EmbedText.cmake. Do not edit.\n"
  "#include \"absl/strings/string_view.h\"\n\n"
  "namespace ${NAMESPACE} {\n\n"
  "absl::string_view ${FUNCTION}() {\n"
  "  static constexpr char kText[] = R\"${delimiter}(${content})${delimiter}\";\n"
  "  return absl::string_view(kText, sizeof(kText) - 1);\n"
  "}\n\n"
  "}  // namespace ${NAMESPACE}\n")
execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${OUTPUT}.tmp" "${OUTPUT}")
file(REMOVE "${OUTPUT}.tmp")
