#!/usr/bin/env bash
# Installs what Ferry's tests need on a fresh Debian machine: the git CLI and
# its daemon/http-backend (real git servers), OpenSSH (a real sshd for the
# git and instance transports; libnss-wrapper so that sshd runs commands
# through a login shell the test chooses, not the one /etc/passwd gives the
# user running the tests), systemd-analyze (the unit file), gnupg
# (signed commits), chromium (the dashboard's browser tests), and debootstrap and systemd-nspawn (the simulator's
# machines: Debian images booted as containers). Safe to run again: it installs only what is missing.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have git || need+=(git)
[ -x /usr/lib/git-core/git-http-backend ] || need+=(git)
have sshd || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
have ssh-keygen || need+=(openssh-client)
# internal/sshtest preloads it into sshd (LD_PRELOAD) with a passwd file of
# its own: without it sshd would use root's login shell (zsh, fish...) and
# the tests would depend on it.
compgen -G '/usr/lib/*-linux-gnu/libnss_wrapper.so' >/dev/null || [ -e /usr/lib64/libnss_wrapper.so ] || [ -e /usr/lib/libnss_wrapper.so ] || need+=(libnss-wrapper)
have systemd-analyze || need+=(systemd)
have gpg || need+=(gnupg)
have debootstrap || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
have systemd-nspawn || need+=(systemd-container)
have nsenter || need+=(util-linux)
[ -x /usr/bin/chromium ] || need+=(chromium)
{ [ -x /usr/bin/aws ] && /usr/bin/python3 -c 'import boto3' 2>/dev/null; } || need+=(awscli python3-boto3) # real AWS clients against the simulator

# Each machine's systemd (and journald, networkd, logind) holds inotify
# instances, all counted to root: the kernel's default of 128 runs out with
# a dozen machines, and packages tested at once boot more ("Failed to
# allocate manager object: Too many open files" at boot).
if [ "$(id -u)" -eq 0 ] && [ "$(sysctl -n fs.inotify.max_user_instances 2>/dev/null || echo 1024)" -lt 1024 ]; then
  sysctl -qw fs.inotify.max_user_instances=1024 || echo "install-test-deps: could not raise fs.inotify.max_user_instances" >&2
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! have apt-get; then
  echo "install-test-deps: missing ${need[*]}; install them (Debian: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "install-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
