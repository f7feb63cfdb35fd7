# SPDX-License-Identifier: MIT
"""The cgroup v2 suite on a real kernel: boot Debian's kernel under qemu (TCG), run the scenarios of
tests/vm/init.sh there, report each case as TAP (meson's test runner counts them).

  run-vm.py --build BUILDDIR [--source SRCDIR] [--timeout S] [--kernel VMLINUZ] [--keep]

The kernel comes from Debian's archive (apt-get download of the package linux-image-amd64 depends
on, unpacked into BUILDDIR/vm-cache, never installed), or from --kernel / $AP_VM_KERNEL.  The
initramfs is an uncompressed newc cpio made here: busybox-static, the built binaries at their build
paths (so that meson's AP_CLI=... paths and RPATHs hold inside), their libraries (ldd) and the init
script.  The VM prints "AP-RESULT case ok|fail|skip detail" for what it judges itself and
"AP-JSON case {...}" / "AP-RAW case key value" for what this side judges (checks.py).
Exit: 0 all passed, 1 a case failed or the VM did not finish, 77 qemu, busybox or the kernel
cannot be had here (the reason is printed, also as the TAP plan "1..0 # SKIP why").  With --tap
(meson's protocol: 'tap') the exit status is 0 once the TAP lines are out: meson reads them.
"""
import argparse
import glob
import os
import shutil
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# What the scenarios run, relative to the build directory (missing ones are reported by the VM).
BINARIES = [
    "daemon/autoprocs", "daemon/autoprocsd", "examples/autoprocs-example",
    "tests/bench/throttle-load", "tests/test-run", "tests/test-init-cgroup",
]


TAP = "--tap" in sys.argv  # under meson (protocol tap): the plan and the lines say it all


def skip(reason):
    print("1..0 # SKIP %s" % reason)
    sys.exit(0 if TAP else 77)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def kernel_package():
    """The versioned image package linux-image-amd64 depends on (linux-image-6.1.0-N-amd64)."""
    p = run(["apt-cache", "depends", "linux-image-amd64"])
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("Depends:") and "linux-image-" in line:
            return line.split()[1]
    return None


def fetch_kernel(cache):
    """vmlinuz from the cache, else downloaded and unpacked there; (path, why-not)."""
    found = sorted(glob.glob(os.path.join(cache, "boot", "vmlinuz-*")))
    if found:
        return found[-1], None
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        return None, "no apt-get/dpkg-deb to fetch Debian's kernel package"
    pkg = kernel_package()
    if not pkg:
        run(["apt-get", "update", "-qq"])
        pkg = kernel_package()
    if not pkg:
        return None, "apt-cache knows no linux-image-amd64 (run apt-get update?)"
    os.makedirs(cache, exist_ok=True)
    p = run(["apt-get", "download", "-q", pkg], cwd=cache)
    debs = glob.glob(os.path.join(cache, pkg + "_*.deb"))
    if not debs:
        run(["apt-get", "update", "-qq"])
        p = run(["apt-get", "download", "-q", pkg], cwd=cache)
        debs = glob.glob(os.path.join(cache, pkg + "_*.deb"))
    if not debs:
        return None, "apt-get download %s failed: %s" % (pkg, p.stdout.strip()[-200:])
    # Only ./boot is needed: every option the suite uses is built in (cgroup2, PSI, 8250
    # serial, initramfs); unpacking the 60 MB of modules would cost time for nothing.
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", debs[0]], stdout=subprocess.PIPE)
    x = subprocess.run(["tar", "-x", "-C", cache, "--wildcards", "./boot/*"], stdin=tar.stdout)
    tar.wait()
    os.unlink(debs[0])
    found = sorted(glob.glob(os.path.join(cache, "boot", "vmlinuz-*")))
    if x.returncode != 0 or not found:
        return None, "unpacking %s gave no boot/vmlinuz" % pkg
    return found[-1], None


class Cpio:
    """A newc archive (the kernel's initramfs format), uncompressed: no gunzip under TCG."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1
        self.seen = set()

    def _entry(self, name, mode, data=b""):
        name = name.lstrip("/")
        if name in self.seen:
            return
        self.seen.add(name)
        nb = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0]
        self.ino += 1
        self.out += b"070701" + b"".join(b"%08X" % f for f in fields) + nb
        self.out += b"\0" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\0" * (-len(self.out) % 4)

    def dirs(self, path):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self._entry("/".join(parts[:i]), stat.S_IFDIR | 0o755)

    def dir(self, path):
        self.dirs(path + "/x")

    def file(self, path, data, mode=0o755):
        self.dirs(path)
        self._entry(path, stat.S_IFREG | mode, data)

    def symlink(self, path, target):
        self.dirs(path)
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def copy(self, src, dst=None):
        """A host file at the same path (symlinks kept, and their targets copied)."""
        dst = dst or src
        if os.path.islink(src):
            target = os.readlink(src)
            self.symlink(dst, target)
            self.copy(os.path.join(os.path.dirname(src), target) if not target.startswith("/") else target)
            return
        with open(src, "rb") as f:
            self.file(dst, f.read(), stat.S_IMODE(os.stat(src).st_mode))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return bytes(self.out)


def libraries(paths):
    libs = set()
    for p in paths:
        out = run(["ldd", p]).stdout
        for line in out.splitlines():
            f = line.split()
            if "=>" in f and len(f) > 2 and f[2].startswith("/"):
                libs.add(f[2])
            elif f and f[0].startswith("/"):
                libs.add(f[0])  # the loader
    return sorted(libs)


def make_initramfs(build, source, busybox, out_path):
    cp = Cpio()
    for d in ["proc", "sys", "dev", "tmp", "run", "etc", "root", "bin", "sbin", "usr/bin", "usr/sbin"]:
        cp.dir(d)
    cp.copy(busybox, "/bin/busybox")
    cp.file("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
        b"nobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"
        b"aptest:x:1000:1000:aptest:/tmp:/bin/sh\n", 0o644)
    cp.file("/etc/group", b"root:x:0:\nnogroup:x:65534:\naptest:x:1000:\n", 0o644)
    present = []
    for b in BINARIES:
        p = os.path.join(build, b)
        if os.path.exists(p):
            present.append(p)
    for p in present:
        cp.copy(p)
    # util-linux's unshare (busybox's has no -C) and setpriv (busybox's cannot change uid).
    for tool in ["unshare", "setpriv"]:
        p = shutil.which(tool)
        if p:
            cp.copy(p, "/ul/" + tool)
            present.append(p)
    # Shared libraries built in the tree (RPATH $ORIGIN/...) and from the system.
    for lib in libraries(present + [busybox]):
        cp.copy(lib)
    for lib in filter(os.path.isfile, glob.glob(os.path.join(build, "*.so*"))):
        cp.copy(lib)
    with open(os.path.join(HERE, "init.sh"), "rb") as f:
        cp.file("/init", f.read())
    env = "AP_BUILD=%s\nAP_SOURCE=%s\n" % (build, source)
    cp.file("/etc/ap-vm.env", env.encode(), 0o644)
    with open(out_path, "wb") as f:
        f.write(cp.finish())


def boot(qemu, kernel, initrd, timeout, log_path, only):
    cmdline = ("console=ttyS0 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 panic=-1 "
         "quiet loglevel=1 rdinit=/init")
    if only:
        cmdline += " ap.only=" + only
    cmd = [qemu, "-accel", "tcg,thread=multi", "-m", "768", "-smp", "2", "-nographic",
       "-monitor", "none", "-no-reboot", "-nodefaults", "-serial", "stdio",
       "-kernel", kernel, "-initrd", initrd, "-append", cmdline]
    lines = []
    start = time.monotonic()
    with open(log_path, "w") as log:
        log.write(" ".join(cmd) + "\n")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT)
        os.set_blocking(proc.stdout.fileno(), False)
        buf = b""
        timed_out = False
        while True:
            if time.monotonic() - start > timeout:
                timed_out = True
                proc.kill()
                break
            try:
                chunk = proc.stdout.read()
            except BlockingIOError:
                chunk = None
            if chunk:
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    s = line.decode(errors="replace").rstrip("\r")
                    log.write(s + "\n")
                    log.flush()
                    lines.append(s)
            elif chunk == b"" and proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        proc.wait()
        if buf:
            lines.append(buf.decode(errors="replace"))
            log.write(lines[-1] + "\n")
    return lines, timed_out, time.monotonic() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(HERE)))
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("AP_VM_TIMEOUT", "420")))
    ap.add_argument("--kernel", default=os.environ.get("AP_VM_KERNEL"))
    ap.add_argument("--tap", action="store_true", help="exit 0 once the TAP lines are out (meson)")
    ap.add_argument("--only", default=os.environ.get("AP_VM_ONLY", ""),
            help="comma-separated case-name prefixes to run (default: all)")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    cache = os.path.join(build, "vm-cache")

    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        skip("qemu-system-x86_64 not installed (Debian package qemu-system-x86)")
    # busybox-static, or a dynamic busybox (its libraries are copied like the others').
    busybox = next((b for b in ["/bin/busybox", "/usr/bin/busybox"] if os.path.exists(b)), None)
    if not busybox or run([busybox, "sh", "-c", "true"]).returncode != 0:
        skip("no working busybox (Debian package busybox-static)")
    kernel = args.kernel
    if kernel:
        if not os.path.exists(kernel):
            skip("--kernel %s: no such file" % kernel)
    else:
        kernel, why = fetch_kernel(cache)
        if not kernel:
            skip(why)
    os.makedirs(cache, exist_ok=True)
    initrd = os.path.join(cache, "initramfs.cpio")
    make_initramfs(build, os.path.abspath(args.source), busybox, initrd)
    log_path = os.path.join(cache, "serial.log")
    print("# kernel %s, initramfs %.1f MB, serial log %s" %
       (kernel, os.path.getsize(initrd) / 1e6, log_path), flush=True)
    lines, timed_out, took = boot(qemu, kernel, initrd, args.timeout, log_path, args.only)
    print("# VM ran %.0f s%s" % (took, " (timed out)" if timed_out else ""), flush=True)
    rc = checks.report(lines, timed_out, args.timeout, log_path, args.only)
    return 0 if TAP else rc


if __name__ == "__main__":
    sys.exit(main())
