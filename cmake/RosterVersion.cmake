# The version rosterd and rosterctl print (`--version`): the project's version and, in a git
# checkout, `git describe --always --dirty`, e.g. "0.1.0 (git ffbb674-dirty)".
#
# Target roster_version writes ${ROSTER_VERSION_DIR}/roster_version.h (ROSTER_VERSION_STRING) at
# every build, touching it only when the text changes, so a new commit is picked up without
# re-running CMake and an unchanged one recompiles nothing.
set(ROSTER_VERSION_DIR "${PROJECT_BINARY_DIR}/generated")
add_custom_target(roster_version
  COMMAND "${CMAKE_COMMAND}"
          "-DPROJECT_VERSION=${PROJECT_VERSION}"
          "-DSOURCE_DIR=${PROJECT_SOURCE_DIR}"
          "-DOUTPUT=${ROSTER_VERSION_DIR}/roster_version.h"
          -P "${CMAKE_CURRENT_LIST_DIR}/WriteRosterVersion.cmake"
  BYPRODUCTS "${ROSTER_VERSION_DIR}/roster_version.h"
  COMMENT "roster version"
  VERBATIM)

# roster_use_version(<target>): <target> may #include "roster_version.h".
function(roster_use_version target)
  add_dependencies(${target} roster_version)
  target_include_directories(${target} PRIVATE "${ROSTER_VERSION_DIR}")
endfunction()
