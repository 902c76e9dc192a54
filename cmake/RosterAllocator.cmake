# The memory allocator of rosterd and of the benchmarks of its hot paths: tcmalloc (gperftools'
# minimal build, Debian's libgoogle-perftools-dev), as Kudu links it.
#
# Why (docs/scale.md, "The allocator"): an event allocates on the registry's thread (the inbox
# item) and frees on the cluster executor, and a publish frees the NodeInfo, chunk and change
# batch of the view before it, often on another thread again. glibc's malloc pays for each of
# those frees with its arena's lock and its chunk consolidation: about a third of the cluster
# executor's time at 10,000 workers. tcmalloc's per-thread caches take those frees without a
# lock: events in process about a sixth cheaper, bursts 1.6x faster.
#
# ROSTER_TCMALLOC=OFF, or any sanitizer build (the sanitizers bring their own allocator), links
# glibc's malloc instead. rosterd logs which one it runs on at start.
option(ROSTER_TCMALLOC "Link rosterd and the benchmarks of its hot paths with tcmalloc" ON)

set(ROSTER_USE_TCMALLOC OFF)
if(ROSTER_TCMALLOC AND ROSTER_SANITIZE STREQUAL "" AND NOT ROSTER_FUZZ)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(TCMALLOC REQUIRED IMPORTED_TARGET libtcmalloc_minimal)
  set(ROSTER_USE_TCMALLOC ON)
  message(STATUS "roster: rosterd links tcmalloc ${TCMALLOC_VERSION}")
endif()

# roster_use_allocator(<executable>): links the allocator into <executable>. --no-as-needed (for the
# whole link: CMake reorders the libraries, so it cannot bracket just this one): the library must
# stay even where nothing names it (it replaces malloc and operator new).
function(roster_use_allocator target)
  if(NOT ROSTER_USE_TCMALLOC)
    return()
  endif()
  target_link_options(${target} PRIVATE "LINKER:--no-as-needed")
  target_link_libraries(${target} PRIVATE PkgConfig::TCMALLOC)
endfunction()
