# Sanitizer builds: ROSTER_SANITIZE is a comma-separated list for -fsanitize= (e.g.
# "address,undefined" or "thread"). Every report is fatal: -fno-sanitize-recover=all makes UBSan
# abort, and deploy/sanitize.sh runs the tests with halt_on_error=1.
#
# ThreadSanitizer and Debian's Abseil: libabsl_synchronization is not built with -fsanitize=thread,
# so absl::Mutex, absl::CondVar and absl::Notification synchronise through atomics and futexes
# TSan cannot see, and every access guarded by them would be reported as a race. With
# ROSTER_TSAN_ABSL_SOURCE_DIR (Debian's abseil source package, same version as libabsl-dev; see
# deploy/sanitize.sh) the synchronization and status components are compiled again with TSan
# against the installed headers, as the shared library roster_tsan_absl, and linked first into
# every executable. The dynamic linker then binds every caller (roster, gRPC, glog) to the
# instrumented copy, whose TSan annotations (absl/base/internal/tsan_mutex_interface.h) tell TSan
# about each lock, unlock, wait and signal, and whose atomics TSan sees.

set(ROSTER_SANITIZE "" CACHE STRING
    "Comma-separated sanitizers for -fsanitize= (address,undefined | thread); empty: none")
set(ROSTER_TSAN_ABSL_SOURCE_DIR "" CACHE PATH
    "Abseil source tree of the installed version; with ROSTER_SANITIZE=thread, its synchronization and status components are rebuilt with TSan")

# Called once at the end of the top-level CMakeLists.txt: with the TSan build of Abseil's
# synchronization and status, every executable depends on it and names it first among its shared libraries
# (before libabsl_synchronization and libabsl_status, which gRPC and roster's libraries pull in), so the dynamic
# linker's symbol lookup finds the instrumented definitions first.
function(roster_sanitize_executables)
  if(NOT TARGET roster_tsan_absl)
    return()
  endif()
  set(dirs "${CMAKE_SOURCE_DIR}")
  while(dirs)
    list(POP_FRONT dirs dir)
    get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
    list(APPEND dirs ${subdirs})
    get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
    foreach(target IN LISTS targets)
      get_target_property(type ${target} TYPE)
      if(type STREQUAL "EXECUTABLE")
        add_dependencies(${target} roster_tsan_absl)
        set_property(TARGET ${target} APPEND PROPERTY LINK_OPTIONS
          "-Wl,--no-as-needed"
          "$<TARGET_FILE:roster_tsan_absl>"
          "-Wl,--as-needed"
          "-Wl,-rpath,$<TARGET_FILE_DIR:roster_tsan_absl>")
      endif()
    endforeach()
  endwhile()
endfunction()

if(ROSTER_SANITIZE STREQUAL "")
  return()
endif()

add_compile_options(-fsanitize=${ROSTER_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
add_link_options(-fsanitize=${ROSTER_SANITIZE})
message(STATUS "roster: sanitizers ${ROSTER_SANITIZE}")

if(ROSTER_SANITIZE MATCHES "thread")
  if(ROSTER_TSAN_ABSL_SOURCE_DIR STREQUAL "")
    message(WARNING "ROSTER_SANITIZE=thread without ROSTER_TSAN_ABSL_SOURCE_DIR: absl::Mutex is "
                    "invisible to TSan and every access it guards will be reported as a race")
    return()
  endif()
  set(_absl_sync "${ROSTER_TSAN_ABSL_SOURCE_DIR}/absl/synchronization")
  if(NOT EXISTS "${_absl_sync}/mutex.cc")
    message(FATAL_ERROR "ROSTER_TSAN_ABSL_SOURCE_DIR: no absl/synchronization/mutex.cc under "
                        "${ROSTER_TSAN_ABSL_SOURCE_DIR}")
  endif()
  # The sources of absl_synchronization and absl_graphcycles_internal
  # (absl/synchronization/CMakeLists.txt), compiled against the installed headers (the source
  # tree is deliberately not on the include path: Debian's absl/base/options.h differs).
  add_library(roster_tsan_absl SHARED
    "${_absl_sync}/barrier.cc"
    "${_absl_sync}/blocking_counter.cc"
    "${_absl_sync}/internal/create_thread_identity.cc"
    "${_absl_sync}/internal/graphcycles.cc"
    "${_absl_sync}/internal/per_thread_sem.cc"
    "${_absl_sync}/internal/waiter.cc"
    "${_absl_sync}/mutex.cc"
    "${_absl_sync}/notification.cc")
  # absl::Status shares its heap rep between copies through a reference count that
  # libabsl_status drops (Status::UnrefNonInlined) in code TSan cannot see, so the last owner's
  # delete looked unordered with another thread's earlier read of the message (seen in
  # registry_contract_memory_test: a registry callback's Status destroyed on the mailbox thread
  # after the test thread matched its copy). The status component is rebuilt with it.
  target_sources(roster_tsan_absl PRIVATE
    "${ROSTER_TSAN_ABSL_SOURCE_DIR}/absl/status/status.cc"
    "${ROSTER_TSAN_ABSL_SOURCE_DIR}/absl/status/status_payload_printer.cc"
    "${ROSTER_TSAN_ABSL_SOURCE_DIR}/absl/status/statusor.cc")
  target_compile_options(roster_tsan_absl PRIVATE -w)
  target_link_libraries(roster_tsan_absl PRIVATE
    absl::base absl::cord absl::malloc_internal absl::raw_logging_internal absl::stacktrace
    absl::str_format absl::strerror absl::strings absl::symbolize absl::time Threads::Threads)
endif()
