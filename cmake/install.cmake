# `cmake --install <build> [--prefix P]` (honours DESTDIR): what an operator needs on a host.
#   bin/zunvmd
#   share/zunvm/guest/{vmlinux,initramfs.cpio}   the guest image (guest/build-image.sh puts it in
#                                                build/guest; an installed zunvmd finds it here)
#   share/zunvm/images/busybox.tar               when built (guest/build-busybox-image.sh)
#   share/zunvm/zunvm.conf.sample, share/doc/zunvm/{operator,zun-driver}.md
#   lib/systemd/system/zunvmd.service            ExecStart=<prefix>/bin/zunvmd --config-file /etc/zun/zunvm.conf
# The Python driver for zun-compute installs with pip from python/ (docs/zun-driver.md).
include(GNUInstallDirs)

set(ZUNVM_BIN_DIR "${CMAKE_INSTALL_FULL_BINDIR}")
set(ZUNVM_DOC_DIR "${CMAKE_INSTALL_FULL_DOCDIR}")
configure_file(${CMAKE_SOURCE_DIR}/etc/systemd/zunvmd.service.in
               ${CMAKE_BINARY_DIR}/zunvmd.service @ONLY)

install(TARGETS zunvmd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_BINARY_DIR}/zunvmd.service DESTINATION lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/etc/zun/zunvm.conf.sample DESTINATION ${CMAKE_INSTALL_DATADIR}/zunvm)
install(FILES ${CMAKE_SOURCE_DIR}/docs/operator.md ${CMAKE_SOURCE_DIR}/docs/zun-driver.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Built outside CMake by the scripts, always into the release tree build/.
set(ZUNVM_GUEST_BUILD "${CMAKE_SOURCE_DIR}/build/guest")
install(CODE "
  foreach(f vmlinux initramfs.cpio)
    if(NOT EXISTS \"${ZUNVM_GUEST_BUILD}/\${f}\")
      message(WARNING \"guest image file ${ZUNVM_GUEST_BUILD}/\${f} is not built (guest/build-image.sh); not installed\")
    endif()
  endforeach()")
install(FILES ${ZUNVM_GUEST_BUILD}/vmlinux ${ZUNVM_GUEST_BUILD}/initramfs.cpio
        DESTINATION ${CMAKE_INSTALL_DATADIR}/zunvm/guest OPTIONAL)
install(FILES ${CMAKE_SOURCE_DIR}/build/images/busybox.tar
        DESTINATION ${CMAKE_INSTALL_DATADIR}/zunvm/images OPTIONAL)
