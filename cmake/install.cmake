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

# Tests of the above and of the devstack plugin (no VMs):
#   packaging_install  `cmake --install` of this tree into a temp DESTDIR; every file, the
#                      installed zunvmd runs, the unit passes `systemd-analyze verify`
#   devstack_lint      bash -n and shellcheck on devstack/
#   devstack_steps     devstack/lib/zunvm's steps outside devstack into temp dirs (fake
#                      sandboxes, a free port). It always builds and installs the release tree
#                      build/, so it is defined there only, not in build-asan/.
# Both install tests write build/install_manifest.txt (devstack_steps installs build/), and
# packaging_install starts the installed zunvmd on libvirtd (no VM), which e2e_vm_cli restarts.
add_test(NAME packaging_install
         COMMAND ${CMAKE_SOURCE_DIR}/tests/packaging/test_install.sh ${CMAKE_BINARY_DIR})
set_tests_properties(packaging_install PROPERTIES TIMEOUT 300
                     RESOURCE_LOCK "libvirtd;zunvm_release_install")
if(NOT ZUNVM_SANITIZE)
  add_test(NAME devstack_lint COMMAND ${CMAKE_SOURCE_DIR}/tests/packaging/lint_devstack.sh)
  add_test(NAME devstack_steps COMMAND ${CMAKE_SOURCE_DIR}/tests/packaging/test_devstack_steps.sh)
  set_tests_properties(devstack_lint devstack_steps PROPERTIES TIMEOUT 900)
  set_tests_properties(devstack_steps PROPERTIES RESOURCE_LOCK zunvm_release_install)
endif()
