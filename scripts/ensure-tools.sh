#!/usr/bin/env bash
# Makes sure the Debian tools the tests use as oracles (and FUSE's runtime) are installed.
# Installs what is missing with apt-get when running as root (or with sudo); otherwise
# says which packages to install and stops.
set -euo pipefail

# command-or-file -> Debian package
declare -A need=(
  [qemu-img]=qemu-utils
  [mkfs.vfat]=dosfstools
  [mcopy]=mtools
  [mmls]=sleuthkit
  [sfdisk]=fdisk
  [sgdisk]=gdisk
  [mkfs.ext4]=e2fsprogs
  [debugfs]=e2fsprogs
  [mkntfs]=ntfs-3g
  [ntfs-3g]=ntfs-3g
  [mkfs.exfat]=exfatprogs
  [mount.exfat-fuse]=exfat-fuse
  [7zz]=7zip
  [fusermount]=fuse3
  [setfattr]=attr
  [vmdkinfo]=libvmdk-utils
  [vhdiinfo]=libvhdi-utils
  [qcowinfo]=libqcow-utils
  [fsntfsinfo]=libfsntfs-utils
  [hivexsh]=libhivex-bin
  [hivexregedit]=libwin-hivex-perl
  [zsh]=zsh
  [fish]=fish
  [wimlib-imagex]=wimtools
  [tmux]=tmux
  [hyperfine]=hyperfine
  [strace]=strace
  [cc]=gcc
  [pkg-config]=pkg-config
  [pvcreate]=lvm2
  [vgcfgrestore]=lvm2
  [thin_restore]=thin-provisioning-tools
  [vslvminfo]=libvslvm-utils
  [mkfs.xfs]=xfsprogs
  [xfs_db]=xfsprogs
  [fsxfsinfo]=libfsxfs-utils
  [mkfs.btrfs]=btrfs-progs
  [cryptsetup]=cryptsetup-bin
  [luksdeinfo]=libluksde-utils
  [bdeinfo]=libbde-utils
  [dislocker-file]=dislocker
  [vshadowinfo]=libvshadow-utils
  [genisoimage]=genisoimage
  [xorriso]=xorriso
  [mkudffs]=udftools
  [ewfacquire]=ewf-tools
  [nginx]=nginx-light
  [zstd]=zstd
  [lzop]=lzop
  [openssl]=openssl
  [rclone]=rclone
  [mount.davfs]=davfs2
  [chromium]=chromium
  [unzip]=unzip
  [curl]=curl
)
declare -A files=(
  [/usr/lib/x86_64-linux-gnu/libfuse.so.2]=libfuse2
  [/usr/include/fuse3/fuse.h]=libfuse3-dev
  [/usr/include/wimlib.h]=libwim-dev
  [/usr/bin/time]=time
  [/usr/share/doc/python3-libfsntfs/copyright]=python3-libfsntfs
  [/usr/lib/nginx/modules/ngx_http_dav_ext_module.so]=libnginx-mod-http-dav-ext
)

missing=()
for c in "${!need[@]}"; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$c" >/dev/null 2>&1 || missing+=("${need[$c]}")
done
for f in "${!files[@]}"; do
  [ -e "$f" ] || missing+=("${files[$f]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "diskpick tests need these Debian packages: $pkgs" >&2
    echo "install them with: apt-get install -y $pkgs" >&2
    exit 1
  fi
fi
echo "installing test tools: $pkgs" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
