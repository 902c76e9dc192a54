# Install rules: roster as a CMake package, so another project can do
#
#   find_package(roster CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE roster::roster_client)
#
# Component roster_client_dev: roster_client, roster_api_proto and roster_heartbeat_proto (static
# libraries), their headers (the generated .pb.h included), the .proto files, and
# lib/cmake/roster/{rosterConfig,rosterConfigVersion,rosterTargets}.cmake.
# Component roster_tools: rosterctl (with its bash completion) and roster-sim.
# Component roster_server: rosterd, its systemd unit, an example flagfile and the operator docs.
# The Debian package (cmake/RosterPackage.cmake) is roster_server + roster_tools.
#
#   cmake --install build --prefix /opt/roster --component roster_client_dev
#
# Headers: <prefix>/include/roster/v1/*.pb.h (include "roster/v1/roster.pb.h") and
# <prefix>/include/roster/client/*.h (include "roster/client/roster_client.h").
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ROSTER_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/roster")

install(TARGETS roster_client roster_api_proto roster_heartbeat_proto
  EXPORT rosterTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT roster_client_dev
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT roster_client_dev)

install(FILES
  "${PROJECT_SOURCE_DIR}/client/roster_client.h"
  "${PROJECT_SOURCE_DIR}/client/watch_follower.h"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/roster/client" COMPONENT roster_client_dev)

set(_roster_proto_out "${PROJECT_BINARY_DIR}/proto/roster/v1")
install(FILES
  "${_roster_proto_out}/roster.pb.h"
  "${_roster_proto_out}/roster.grpc.pb.h"
  "${_roster_proto_out}/heartbeat.pb.h"
  "${_roster_proto_out}/records.pb.h"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/roster/v1" COMPONENT roster_client_dev)
# The API's reference, and what grpcurl -import-path wants.
install(FILES
  "${PROJECT_SOURCE_DIR}/proto/roster/v1/roster.proto"
  "${PROJECT_SOURCE_DIR}/proto/roster/v1/heartbeat.proto"
  "${PROJECT_SOURCE_DIR}/proto/roster/v1/records.proto"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/roster/proto/roster/v1" COMPONENT roster_client_dev)

install(EXPORT rosterTargets
  NAMESPACE roster::
  DESTINATION "${ROSTER_INSTALL_CMAKEDIR}"
  COMPONENT roster_client_dev)

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/rosterConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/cmake/rosterConfig.cmake"
  INSTALL_DESTINATION "${ROSTER_INSTALL_CMAKEDIR}")
# 0.x: minor versions may break compatibility.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/cmake/rosterConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/cmake/rosterConfig.cmake"
  "${PROJECT_BINARY_DIR}/cmake/rosterConfigVersion.cmake"
  DESTINATION "${ROSTER_INSTALL_CMAKEDIR}" COMPONENT roster_client_dev)

install(TARGETS rosterctl roster-sim
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT roster_tools)
install(FILES "${PROJECT_BINARY_DIR}/client/rosterctl.bash-completion"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/bash-completion/completions" RENAME rosterctl
  COMPONENT roster_tools)

install(TARGETS rosterd RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT roster_server)
# Units go to <prefix>/lib/systemd/system whatever the libdir (lib/x86_64-linux-gnu on Debian);
# /usr/lib/systemd/system is on systemd's unit path. The unit names its binary without a
# directory (ExecStart=rosterd): systemd finds it in /usr/local/bin or /usr/bin.
install(FILES "${PROJECT_SOURCE_DIR}/deploy/rosterd.service"
  DESTINATION "lib/systemd/system" COMPONENT roster_server)
install(FILES "${PROJECT_SOURCE_DIR}/deploy/rosterd.flags"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/roster/examples" COMPONENT roster_server)
install(FILES
  "${PROJECT_SOURCE_DIR}/README.md"
  "${PROJECT_SOURCE_DIR}/docs/operations.md"
  "${PROJECT_SOURCE_DIR}/docs/runbook.md"
  "${PROJECT_SOURCE_DIR}/docs/security.md"
  DESTINATION "${CMAKE_INSTALL_DOCDIR}" COMPONENT roster_server)
