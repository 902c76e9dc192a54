# find_package_test: installs roster's client package from the build tree into a temporary
# prefix, then configures, builds and runs a separate project (find_package_project/) that does
# find_package(roster CONFIG REQUIRED) and links roster::roster_client. Run by ctest as
#   cmake -DROSTER_BINARY_DIR=... -DPROJECT_DIR=... -DWORK_DIR=... -DGENERATOR=...
#         -DCXX_COMPILER=... [-DCCACHE=...] -P find_package_test.cmake
# The work directory is removed at the start and at the end (kept on failure when
# ROSTER_KEEP_TEST_DIRS=1).
cmake_minimum_required(VERSION 3.19)

foreach(var ROSTER_BINARY_DIR PROJECT_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "find_package_test: -D${var}=... is required")
  endif()
endforeach()

function(cleanup)
  if(NOT "$ENV{ROSTER_KEEP_TEST_DIRS}" STREQUAL "1")
    file(REMOVE_RECURSE "${WORK_DIR}")
  endif()
endfunction()

# Runs one step; on failure prints its output, cleans up and fails the test.
function(step name)
  message(STATUS "find_package_test: ${name}")
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    cleanup()
    message(FATAL_ERROR "find_package_test: ${name} failed (${rc}):\n${out}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

# The installed libraries must be built; this is a no-op when they are up to date.
step("build roster_client"
  "${CMAKE_COMMAND}" --build "${ROSTER_BINARY_DIR}" --target roster_client)
step("install the client package"
  "${CMAKE_COMMAND}" --install "${ROSTER_BINARY_DIR}" --prefix "${prefix}"
                     --component roster_client_dev)

# The package must stand alone: nothing in it may point back into the build or source tree.
file(GLOB_RECURSE config_files "${prefix}/*.cmake")
get_filename_component(source_dir "${PROJECT_DIR}/../../.." ABSOLUTE)
foreach(file IN LISTS config_files)
  file(READ "${file}" text)
  foreach(tree "${ROSTER_BINARY_DIR}" "${source_dir}")
    string(FIND "${text}" "${tree}" found)
    if(NOT found EQUAL -1)
      cleanup()
      message(FATAL_ERROR "find_package_test: ${file} refers to ${tree}")
    endif()
  endforeach()
endforeach()
foreach(header roster/client/roster_client.h roster/client/watch_follower.h
               roster/v1/roster.pb.h roster/v1/roster.grpc.pb.h roster/v1/heartbeat.pb.h)
  if(NOT EXISTS "${prefix}/include/${header}")
    cleanup()
    message(FATAL_ERROR "find_package_test: ${header} was not installed")
  endif()
endforeach()

set(launcher)
if(CCACHE)
  set(launcher "-DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE}")
endif()
step("configure the consumer project"
  "${CMAKE_COMMAND}" -S "${PROJECT_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
                     "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
                     -DCMAKE_BUILD_TYPE=Release -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
                     ${launcher})
step("build the consumer project" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
step("run the consumer program" "${WORK_DIR}/build/find_package_smoke")
message(STATUS "find_package_test: ${step_output}")
cleanup()
