# The Debian package (issue #17 item 2): `cmake --build build --target package` or
# `cd build && cpack` builds build/peyk_VERSION_ARCH.deb with
#   /usr/bin/peyk, the panel in /usr/share/peyk/web (web/dist, built first: npm run build),
#   /lib/systemd/system/peyk@.service (peyk@serve, peyk@ingest, peyk@gateway),
#   /etc/peyk/peyk.conf (a conffile), and maintainer scripts that add the `peyk` system
#   user and /var/lib/peyk, make /etc/default/peyk with a fresh JWT key on first install,
#   and remove both on purge.
# Only peyk is installed: `install` does not build the tests (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY).
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(PEYK_DEB_MAINTAINER "peyk maintainers <maintainers@peyk.example.org>"
    CACHE STRING "Maintainer of the Debian package (name <email>)")
include(GNUInstallDirs)

install(TARGETS peyk RUNTIME DESTINATION bin COMPONENT peyk)
install(CODE "
  if(NOT EXISTS \"${PROJECT_SOURCE_DIR}/web/dist/index.html\")
    message(FATAL_ERROR \"the panel is not built: cd web && npm ci && npm run build\")
  endif()" COMPONENT peyk)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/web/dist/ DESTINATION share/peyk/web COMPONENT peyk)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/peyk@.service
        DESTINATION /lib/systemd/system COMPONENT peyk)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/peyk.conf DESTINATION /etc/peyk COMPONENT peyk)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/copyright ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION share/doc/peyk COMPONENT peyk)
# A native package's changelog, gzipped (-n: no timestamp, reproducible).
set(PEYK_CHANGELOG ${PROJECT_BINARY_DIR}/deb/changelog.gz)
file(WRITE ${PROJECT_BINARY_DIR}/deb/changelog
     "peyk (${PROJECT_VERSION}) unstable; urgency=medium\n\n"
     "  * Built from the peyk source tree.\n\n"
     " -- ${PEYK_DEB_MAINTAINER}  Sun, 06 Dec 2026 00:00:00 +0000\n")
execute_process(COMMAND gzip -9nf ${PROJECT_BINARY_DIR}/deb/changelog)
install(FILES ${PEYK_CHANGELOG} DESTINATION share/doc/peyk COMPONENT peyk)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME peyk)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "${PEYK_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "live courier tracking server")
set(CPACK_PACKAGE_DESCRIPTION
    "Couriers' phones post their locations to an ingest API; a WebSocket gateway\npushes each one to the viewers allowed to see it; a web panel shows them\nlive on a map, and every point is recorded for tracks.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
