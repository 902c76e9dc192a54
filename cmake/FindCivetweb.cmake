# civetweb, the embeddable HTTP server (Debian: libcivetweb-dev 1.15), for rosterd's HTTP
# endpoints (server/http_server.cc). Debian's package ships a CMake config, but it names the
# `civetweb` executable, which Debian does not install, so find_package(civetweb CONFIG) fails
# ("imported target references the file /usr/bin/civetweb"); and it ships no pkg-config file.
# This module wraps the C library in the imported target Civetweb::civetweb.
find_path(Civetweb_INCLUDE_DIR civetweb.h)
find_library(Civetweb_LIBRARY civetweb)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Civetweb
  REQUIRED_VARS Civetweb_LIBRARY Civetweb_INCLUDE_DIR)

if(Civetweb_FOUND AND NOT TARGET Civetweb::civetweb)
  add_library(Civetweb::civetweb UNKNOWN IMPORTED)
  set_target_properties(Civetweb::civetweb PROPERTIES
    IMPORTED_LOCATION "${Civetweb_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Civetweb_INCLUDE_DIR}")
endif()
mark_as_advanced(Civetweb_INCLUDE_DIR Civetweb_LIBRARY)
