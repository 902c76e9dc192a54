# The Debian package, built by CPack: `cpack -G DEB` in the build directory, or
# deploy/package.sh (which also builds what the package holds).
#
# One package, `roster`: the install components roster_server (rosterd, its systemd unit, an
# example flagfile, the operator docs) and roster_tools (rosterctl with its bash completion,
# roster-sim). Depends comes from dpkg-shlibdeps on the binaries; the maintainer scripts
# (deploy/debian/) enable the unit and start it only where systemd runs.
#
# CPack packages what is built (with Ninja it runs no build step of its own): build rosterd,
# rosterctl, roster-sim and rosterctl_completion first. Binaries are stripped in the package.
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "roster")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "roster")
set(CPACK_PACKAGE_CONTACT "roster maintainers <roster@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "cluster-membership sidecar for DolphinScheduler (rosterd, rosterctl)")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "rosterd reads a DolphinScheduler cluster's ZooKeeper registry and serves a consistent, "
    "versioned view of its masters, workers, slots and leader over gRPC. rosterctl inspects "
    "and operates it from the command line; roster-sim plays a DolphinScheduler cluster "
    "against a registry for tests and rehearsals.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)

set(CPACK_COMPONENTS_ALL roster_server roster_tools)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)

set(CPACK_DEBIAN_PACKAGE_NAME "roster")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bash-completion, zookeeper")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/deploy/debian/postinst"
    "${PROJECT_SOURCE_DIR}/deploy/debian/prerm"
    "${PROJECT_SOURCE_DIR}/deploy/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
