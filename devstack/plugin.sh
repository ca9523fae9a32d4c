#!/bin/bash
# shellcheck shell=bash
# devstack plugin for zunvm: zunvmd (Zun containers, one VM each) on every compute host and
# zun-compute pointed at it. Enable it after zun's plugin in local.conf (see README.md):
#   enable_plugin zun https://opendev.org/openstack/zun
#   enable_plugin zunvm <this repository>

# shellcheck source=devstack/lib/zunvm
source "$(dirname "${BASH_SOURCE[0]}")/lib/zunvm"

if is_service_enabled zunvm; then
    if [[ "$1" == "stack" && "$2" == "pre-install" ]]; then
        echo_summary "Installing zunvm's Debian packages"
        install_zunvm_packages
    elif [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Building and installing zunvmd, its guest image and the zunvm Zun driver"
        install_zunvm
        install_zunvm_driver
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring and starting zunvmd; pointing zun-compute at it"
        configure_zunvm
        configure_zun_for_zunvm
        start_zunvm
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        import_zunvm_images
    fi

    if [[ "$1" == "unstack" ]]; then
        stop_zunvm
    fi

    if [[ "$1" == "clean" ]]; then
        cleanup_zunvm
    fi
fi
