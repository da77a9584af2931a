#!/bin/sh
# Runs inside a freshly debootstrapped tree (chroot, private mount
# namespace) and makes it boot like Debian's AMI under systemd-nspawn.
# Its text is part of the image recipe's key: any edit rebuilds the image.
set -eu
mount -t proc proc /proc

# The default user of Debian's AMIs: key login only, passwordless sudo.
useradd --create-home --shell /bin/bash --groups adm,sudo admin
printf 'admin ALL=(ALL) NOPASSWD:ALL\n' >/etc/sudoers.d/90-admin
chmod 0440 /etc/sudoers.d/90-admin
cat >/etc/ssh/sshd_config.d/10-ferry.conf <<'CONF'
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
CONF

# Every machine is a first boot: its own machine-id and SSH host keys.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
rm -f /etc/ssh/ssh_host_*

# Host keys are made at first boot and printed to the console in the form
# EC2 users read with get-console-output (cloud-init's keys_to_console),
# unless cloud-init made them first.
cat >/usr/local/sbin/ferry-host-keys <<'SH'
#!/bin/sh
set -eu
ssh-keygen -A >/dev/null
out() { printf 'ec2: %s\n' "$1"; }
out '#############################################################'
out '-----BEGIN SSH HOST KEY FINGERPRINTS-----'
for k in /etc/ssh/ssh_host_*key.pub; do out "$(ssh-keygen -l -f "$k")"; done
out '-----END SSH HOST KEY FINGERPRINTS-----'
out '#############################################################'
out '-----BEGIN SSH HOST KEY KEYS-----'
for k in /etc/ssh/ssh_host_*key.pub; do out "$(cut -d' ' -f1-2 "$k")"; done
out '-----END SSH HOST KEY KEYS-----'
SH
chmod 0755 /usr/local/sbin/ferry-host-keys
cat >/etc/systemd/system/ferry-host-keys.service <<'UNIT'
[Unit]
Description=SSH host keys of a new machine, printed to the console
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
After=cloud-init.service
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/ferry-host-keys
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable ferry-host-keys.service

# Networking: systemd-networkd configures nspawn's host0 from the
# per-machine file /etc/systemd/network/10-host0.network.
systemctl enable systemd-networkd.service
# Nothing waits for "online": machines are up when their units are.
systemctl mask systemd-networkd-wait-online.service
# No getty on nspawn's console: it would hold the console the log reads.
systemctl mask console-getty.service
# Boots of several machines at once share the host's CPUs: nothing starts
# that has no work in a container made from a finished image. sysusers:
# the image's users exist (a package installed later runs it itself);
# network-generator: no kernel command line of the machine's own; pstore,
# hugepages: kernel facilities of the host; e2scrub, fstrim: no block
# device of the machine's own.
systemctl mask systemd-sysusers.service systemd-network-generator.service \
	systemd-pstore.service dev-hugepages.mount \
	e2scrub_reap.service e2scrub_all.timer fstrim.timer

# nginx: /healthcheck.html on 80 and, with the snakeoil certificate, on 443
# (the seed's ELB health check is HTTPS:443/healthcheck.html).
echo ok >/var/www/html/healthcheck.html
cat >/etc/nginx/sites-available/default <<'CONF'
server {
	listen 80 default_server;
	listen [::]:80 default_server;
	listen 443 ssl default_server;
	listen [::]:443 ssl default_server;
	ssl_certificate /etc/ssl/certs/ssl-cert-snakeoil.pem;
	ssl_certificate_key /etc/ssl/private/ssl-cert-snakeoil.key;
	root /var/www/html;
	index index.html index.nginx-debian.html;
	server_name _;
	location / {
		try_files $uri $uri/ =404;
	}
}
CONF

# cloud-init (if installed): the default user is admin, as on Debian's AMIs;
# the datasource is chosen per machine in cloud.cfg.d, and a machine with no
# user-data runner gets /etc/cloud/cloud-init.disabled.
if [ -d /etc/cloud/cloud.cfg.d ]; then
	cat >/etc/cloud/cloud.cfg.d/01-ferry.cfg <<'CONF'
system_info:
  default_user:
    name: admin
    lock_passwd: true
    groups: [adm, sudo]
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
    shell: /bin/bash
# The host keys EC2 users know (bookworm's sshd refuses DSA anyway).
ssh_genkeytypes: [rsa, ecdsa, ed25519]
# No locales package in the image: leave the locale alone.
locale: false
# The machine's address is static, written per machine for networkd;
# cloud-init's fallback (DHCP on host0) would take precedence over it.
network:
  config: disabled
# The modules that act in a container on what EC2 user data asks for, in
# Debian's order; left out are those for disks, grub, snaps, keyboards,
# Ubuntu's and other clouds' services, and tools the image lacks. The
# config stage's modules run first in the final stage: one Python process
# less per boot (cloud-config.service is masked below).
cloud_init_modules:
  - migrator
  - seed_random
  - bootcmd
  - write-files
  - mounts
  - set_hostname
  - update_hostname
  - update_etc_hosts
  - ca-certs
  - rsyslog
  - users-groups
  - ssh
cloud_config_modules: []
cloud_final_modules:
  - set-passwords
  - apt-pipelining
  - apt-configure
  - ntp
  - timezone
  - disable-ec2-metadata
  - runcmd
  - package-update-upgrade-install
  - write-files-deferred
  - puppet
  - chef
  - mcollective
  - salt-minion
  - scripts-vendor
  - scripts-per-once
  - scripts-per-boot
  - scripts-per-instance
  - scripts-user
  - ssh-authkey-fingerprints
  - keys-to-console
  - phone-home
  - final-message
  - power-state-change
CONF
	# The local stage finds nothing here (its Ec2Local works on AWS's
	# hardware only, and the network configuration is off); the network
	# stage finds the Ec2 datasource, or NoCloud's seed, itself.
	systemctl mask cloud-init-local.service cloud-config.service
fi

# Smaller layers: no package caches or lists.
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/*.log
umount /proc
